package federation

import (
	"context"
	"io"
	"net/http"
	"sync"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// get merges the backends' GET streams (server-to-client notifications and
// requests outside any call) into the client's one. A backend that
// serves no GET stream (405) or fails to open one within the fan-out
// timeout is left out; the stream is refused only when none opens. Event
// ids are dropped: a merged stream cannot be resumed by one backend's ids.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	s, err := h.session(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	bodies := h.openStreams(ctx, r, s)
	opened := 0
	for _, b := range bodies {
		if b != nil {
			opened++
		}
	}
	if opened == 0 {
		return &policy.Error{Status: http.StatusMethodNotAllowed, Message: "no backend of this route serves a GET stream", Header: http.Header{"Allow": {"POST, DELETE"}}}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	var mu sync.Mutex
	var pumps sync.WaitGroup
	for i, b := range bodies {
		if b == nil {
			continue
		}
		pumps.Add(1)
		go func() {
			defer pumps.Done()
			defer b.Close()
			for ev, err := range mcp.ParseEvents(b, maxMessageBytes) {
				if err != nil {
					return
				}
				if !ev.HasData {
					continue
				}
				data, ok := h.mapBack(i, "", []byte(ev.Data))
				if !ok {
					continue
				}
				out := &mcp.Event{Event: ev.Event, Data: string(data), HasData: true}
				mu.Lock()
				err := mcp.WriteEvent(w, out)
				if err == nil {
					err = rc.Flush()
				}
				mu.Unlock()
				if err != nil {
					cancel()
					return
				}
			}
		}()
	}
	// Ends when the client goes away or every backend stream ends.
	done := make(chan struct{})
	go func() { pumps.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, b := range bodies {
			if b != nil {
				b.Close()
			}
		}
		<-done
	}
	return nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	b.cancel()
	return b.ReadCloser.Close()
}

// delete ends every backend session of the client's session. The sealed
// id itself cannot be revoked; it opens until its expiry, but each
// backend then answers 404 for its ended session, and so does the gateway.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) error {
	s, err := h.session(r)
	if err != nil {
		return err
	}
	// A client that closes without waiting for the answer must not leave
	// the backend sessions open: the fan-out outlives the request,
	// bounded by the fan-out timeout.
	errs := h.fanOut(context.WithoutCancel(r.Context()), s, false, func(ctx context.Context, i int, bs *BackendSession) error {
		if bs.ID == "" {
			return nil
		}
		res, err := h.send(ctx, r, i, http.MethodDelete, bs, nil)
		if err != nil {
			return err
		}
		return res.Body.Close()
	})
	for i, err := range errs {
		if err != nil {
			h.log.Info("federated session end not delivered", "route", h.cfg.Route, "backend", h.cfg.Backends[i].Name, "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
