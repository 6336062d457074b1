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
	// Ends when the client goes away or every backend stream ends. The
	// event names are not kept: MCP sends every message as a default
	// ("message") event.
	var mu sync.Mutex
	h.pump(ctx, cancel, bodies, func(i int, msg []byte) error {
		data, ok := h.mapBack(i, "", msg)
		if !ok {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if err := mcp.WriteEvent(w, &mcp.Event{Data: string(data), HasData: true}); err != nil {
			return err
		}
		return rc.Flush()
	})
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
