package gateway

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// drainer ends response streams during shutdown. Listening streams (GET)
// end as soon as draining starts; responses to POSTs are allowed to finish
// until the grace period is nearly over, when everything is ended.
type drainer struct {
	streams     context.Context
	stopStreams context.CancelFunc
	all         context.Context
	stopAll     context.CancelFunc
	// parked counts the streams served off their handler goroutines
	// (parked.go), which the servers' Shutdown does not wait for. (A
	// WaitGroup would not do: a stream may park while Shutdown waits.)
	parked atomic.Int64
	// watch waits for parked streams' clients to close.
	watch clientWatcher
	// waiting is ended when all is (backend.ServeHTTP's exchanges).
	waiting waitingSet
}

func newDrainer() *drainer {
	d := &drainer{}
	d.streams, d.stopStreams = context.WithCancel(context.Background())
	d.all, d.stopAll = context.WithCancel(context.Background())
	context.AfterFunc(d.all, d.waiting.drain)
	return d
}

// guardedBody wraps an upstream response body. It enforces the idle
// timeout, and turns the gateway's own reasons for ending a stream (request
// timeout, idle timeout, draining) into a clean io.EOF so the client sees a
// properly terminated response rather than a reset. Any other read error is
// passed on, which aborts the client connection: the client must learn that
// the stream broke.
type guardedBody struct {
	rc  io.ReadCloser
	ctx context.Context
	ex  *policy.Exchange

	stops []func() bool
}

// newGuardedBody's idle limit is the exchange's idle clock
// (policy.Exchange.StartIdle), which its reads move on.
func newGuardedBody(rc io.ReadCloser, ctx context.Context, st *upstreamState, d *drainer) io.ReadCloser {
	g := &guardedBody{rc: rc, ctx: ctx, ex: st.ex}
	// The end of the grace period (d.all) needs no hook here:
	// backend.ServeHTTP's entry in d.waiting, which ends the same
	// exchange with the same cause, stays until the body is copied.
	if d != nil && st.stream {
		g.stops = append(g.stops, context.AfterFunc(d.streams, func() { g.ex.Cancel(policy.ErrDraining) }))
	}
	return g
}

func (g *guardedBody) Read(p []byte) (int, error) {
	n, err := g.rc.Read(p)
	if n > 0 {
		g.ex.Touch()
	}
	if err != nil && err != io.EOF {
		cause := context.Cause(g.ctx)
		if errors.Is(cause, policy.ErrIdleTimeout) || errors.Is(cause, policy.ErrRequestTimeout) || errors.Is(cause, policy.ErrDraining) {
			g.ex.StreamEnd = cause
			return n, io.EOF
		}
	}
	return n, err
}

// WaitData passes the wait on (dataWaiter): a wait cut short by the
// idle timer, the request's end or draining shows up in the next Read,
// which Read above turns into a clean end.
func (g *guardedBody) WaitData() { waitData(g.rc) }

// dataWaiter is a response body that can wait for its next data without
// a read buffer (upstream's body, the mcp event rewriter, and the
// wrappers between them and the copy loop). An idle stream then holds
// no copy buffer, no event buffer and no connection read buffer.
type dataWaiter interface{ WaitData() }

// waitData waits for r's data when r can; otherwise the Read that
// follows blocks, as before.
func waitData(r io.Reader) {
	if dw, ok := r.(dataWaiter); ok {
		dw.WaitData()
	}
}

func (g *guardedBody) Close() error {
	for _, s := range g.stops {
		s()
	}
	return g.rc.Close()
}
