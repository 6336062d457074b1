package policy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/identity"
)

// The exchange's one context (issue 20: one context, one timer, one
// request copy per exchange). The edge binds the exchange to the
// request's context once (Bind); what used to wrap that context in turn
// now updates the exchange instead:
//
//   - the timeout policy and the backend's own timeout shorten the
//     request deadline (SetTimeout) instead of each deriving a context
//     with its own timer, and a request copy for it;
//   - the backend starts the idle clock (StartIdle) and the response body
//     marks activity (Touch) instead of arming and resetting an idle
//     timer of its own;
//   - the backend ends the exchange with a cause (Cancel: idle, drain, a
//     broken legacy endpoint) on the same context instead of deriving a
//     cancellable one;
//   - an authenticating policy sets Exchange.Principal, which
//     identity.From finds through this context, instead of a context and
//     a request copy per identity.
//
// One timer serves both deadlines: it fires at the earlier of the
// request deadline and the idle deadline (last activity plus the idle
// limit), and resolveDeadline decides the cause when it fires; activity
// only records a time, and a timer that fires early for an idle deadline
// the stream has since moved is re-armed for the new one.

// exchangeCtx is the exchange's context: a cancelable context (the
// request's, with a cause) that answers the exchange's values itself.
type exchangeCtx struct {
	context.Context // from context.WithCancelCause(parent)
	ex              *Exchange
	cancel          context.CancelCauseFunc

	mu       sync.Mutex
	deadline time.Time     // the request deadline; zero: none
	idle     time.Duration // the idle limit once the clock runs; 0: not running
	timer    *exchangeTimer
	armed    time.Time // when timer fires; zero: not armed
	ended    bool

	// last is the last activity on the response, in nanoseconds since
	// epoch (monotonic).
	last atomic.Int64
}

// epoch is the origin of exchangeCtx.last: a monotonic reading, so that
// idle deadlines ignore wall-clock steps.
var epoch = time.Now()

// Bind makes ex's context a child of parent and returns it: ExchangeFrom
// finds ex in it, identity.From finds ex.Principal, and it ends with the
// exchange's deadlines and Cancel. The caller calls End when the
// exchange is over. Bind is called once per exchange.
func (ex *Exchange) Bind(parent context.Context) context.Context {
	c := &ex.ctx
	c.ex = ex
	c.Context, c.cancel = context.WithCancelCause(parent)
	return c
}

// Bound reports whether Bind was called.
func (ex *Exchange) Bound() bool { return ex.ctx.cancel != nil }

// End stops the exchange's timer and releases its context.
func (ex *Exchange) End() {
	c := &ex.ctx
	if c.cancel == nil {
		return
	}
	c.mu.Lock()
	c.ended = true
	if t := c.timer; t != nil {
		c.timer = nil
		t.release()
	}
	c.mu.Unlock()
	c.cancel(nil)
}

// Cancel ends the exchange's context with cause, unless it has ended
// already (the first cause stays).
func (ex *Exchange) Cancel(cause error) {
	if c := &ex.ctx; c.cancel != nil {
		c.cancel(cause)
	}
}

// SetTimeout shortens the request deadline to d from now (a later one
// than the current is ignored): at the deadline the exchange's context
// ends with ErrRequestTimeout. It reports false, changing nothing, when
// the exchange is not bound; the caller then derives a context itself.
func (ex *Exchange) SetTimeout(d time.Duration) bool {
	c := &ex.ctx
	if c.cancel == nil {
		return false
	}
	if d <= 0 {
		return true
	}
	dl := time.Now().Add(d)
	c.mu.Lock()
	if c.deadline.IsZero() || dl.Before(c.deadline) {
		c.deadline = dl
		c.armLocked()
	}
	c.mu.Unlock()
	return true
}

// StartIdle starts the idle clock with ex.IdleTimeout from now (zero:
// no idle limit): the backend calls it before it waits for response
// headers, since SSE servers often send none until their first event.
func (ex *Exchange) StartIdle() {
	c := &ex.ctx
	if c.cancel == nil || ex.IdleTimeout <= 0 {
		return
	}
	c.last.Store(int64(time.Since(epoch)))
	c.mu.Lock()
	c.idle = ex.IdleTimeout
	c.armLocked()
	c.mu.Unlock()
}

// Touch records activity on the response (headers, a read with data):
// the idle deadline moves to the idle limit from now. It only stores a
// time; the timer catches up when it fires.
func (ex *Exchange) Touch() {
	if c := &ex.ctx; c.cancel != nil {
		c.last.Store(int64(time.Since(epoch)))
	}
}

// idleDeadlineLocked is the idle deadline; zero when the clock is not
// running.
func (c *exchangeCtx) idleDeadlineLocked() time.Time {
	if c.idle <= 0 {
		return time.Time{}
	}
	return epoch.Add(time.Duration(c.last.Load()) + c.idle)
}

// armLocked makes the timer fire at the earlier deadline, if that is
// before when it fires now.
func (c *exchangeCtx) armLocked() {
	if c.ended {
		return
	}
	at := earliest(c.deadline, c.idleDeadlineLocked())
	if at.IsZero() || (!c.armed.IsZero() && !at.Before(c.armed)) {
		return
	}
	c.armed = at
	d := time.Until(at)
	if c.timer == nil {
		c.timer = newExchangeTimer(c, d)
		return
	}
	c.timer.t.Reset(d)
}

// exchangeTimer is an exchange's timer, pooled: most exchanges end well
// before their deadlines, and a pooled timer costs no allocation.
type exchangeTimer struct {
	t     *time.Timer
	owner atomic.Pointer[exchangeCtx]
}

var exchangeTimers sync.Pool

func newExchangeTimer(c *exchangeCtx, d time.Duration) *exchangeTimer {
	if t, ok := exchangeTimers.Get().(*exchangeTimer); ok {
		t.owner.Store(c)
		t.t.Reset(d)
		return t
	}
	t := &exchangeTimer{}
	t.owner.Store(c)
	t.t = time.AfterFunc(d, t.fire)
	return t
}

func (t *exchangeTimer) fire() {
	if c := t.owner.Load(); c != nil {
		c.fire()
	}
}

// release stops t and pools it, unless it has fired: its callback may
// still be on its way to the old owner (which ignores it, having ended),
// so that timer is left to the garbage collector.
func (t *exchangeTimer) release() {
	if t.t.Stop() {
		t.owner.Store(nil)
		exchangeTimers.Put(t)
	}
}

func (c *exchangeCtx) fire() {
	now := time.Now()
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	next, cause := resolveDeadline(now, c.deadline, c.idleDeadlineLocked())
	c.armed = time.Time{}
	if cause == nil && !next.IsZero() {
		c.armed = next
		c.timer.t.Reset(next.Sub(now))
	}
	c.mu.Unlock()
	if cause != nil {
		c.cancel(cause)
	}
}

// resolveDeadline decides, at now, which deadline has passed: the
// request deadline wins when both have (the exchange ran out of time,
// whatever the stream did), then the idle one. With neither passed, next
// is when to look again (zero: never).
func resolveDeadline(now, request, idle time.Time) (next time.Time, cause error) {
	if !request.IsZero() && !now.Before(request) {
		return time.Time{}, ErrRequestTimeout
	}
	if !idle.IsZero() && !now.Before(idle) {
		return time.Time{}, ErrIdleTimeout
	}
	return earliest(request, idle), nil
}

// earliest is the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// EdgeValues is an Exchange.Edge that answers context keys of its own
// through the exchange's context, so that the gateway's per-exchange
// state costs no context (and no request copy to carry one).
type EdgeValues interface {
	EdgeValue(key any) (any, bool)
}

// Deadline is the request deadline, or the parent's if that is earlier.
func (c *exchangeCtx) Deadline() (time.Time, bool) {
	pd, pok := c.Context.Deadline()
	c.mu.Lock()
	d := c.deadline
	c.mu.Unlock()
	if d.IsZero() || (pok && pd.Before(d)) {
		return pd, pok
	}
	return d, true
}

// Value answers the exchange (ExchangeFrom), its verified principal
// (identity.From) and its Edge's keys (EdgeValues) itself; everything
// else comes from the request's context.
func (c *exchangeCtx) Value(key any) any {
	if _, ok := key.(exchangeKey); ok {
		return c.ex
	}
	if c.ex.Principal != nil && identity.IsKey(key) {
		return c.ex.Principal
	}
	if ev, ok := c.ex.Edge.(EdgeValues); ok {
		if v, ok := ev.EdgeValue(key); ok {
			return v
		}
	}
	return c.Context.Value(key)
}
