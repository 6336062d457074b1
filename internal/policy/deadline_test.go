package policy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/identity"
)

func TestResolveDeadline(t *testing.T) {
	now := time.Now()
	past, soon, later := now.Add(-time.Second), now.Add(time.Second), now.Add(time.Minute)
	tests := []struct {
		name          string
		request, idle time.Time
		want          error
		next          time.Time
	}{
		{"nothing set", time.Time{}, time.Time{}, nil, time.Time{}},
		{"request passed", past, time.Time{}, ErrRequestTimeout, time.Time{}},
		{"request due exactly now", now, later, ErrRequestTimeout, time.Time{}},
		{"idle passed", time.Time{}, past, ErrIdleTimeout, time.Time{}},
		{"idle due exactly now", later, now, ErrIdleTimeout, time.Time{}},
		{"both passed: the request deadline wins", past, past, ErrRequestTimeout, time.Time{}},
		{"both due now: the request deadline wins", now, now, ErrRequestTimeout, time.Time{}},
		{"request passed, idle not", past, later, ErrRequestTimeout, time.Time{}},
		{"idle passed, request not", later, past, ErrIdleTimeout, time.Time{}},
		{"neither: look again at the idle deadline", later, soon, nil, soon},
		{"neither: look again at the request deadline", soon, later, nil, soon},
		{"only a request deadline ahead", soon, time.Time{}, nil, soon},
		{"only an idle deadline ahead", time.Time{}, later, nil, later},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, cause := resolveDeadline(now, tt.request, tt.idle)
			if cause != tt.want || !next.Equal(tt.next) {
				t.Errorf("resolveDeadline = %v, %v; want %v, %v", cause, next, tt.want, tt.next)
			}
		})
	}
}

// waitDone waits for ctx to end, bounded so a broken timer fails the test
// instead of hanging it.
func waitDone(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the exchange's context did not end")
	}
}

func TestExchangeContextCause(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, ex *Exchange, ctx context.Context, clientGone context.CancelFunc)
		want error
	}{
		{"request timeout", func(t *testing.T, ex *Exchange, ctx context.Context, _ context.CancelFunc) {
			ex.SetTimeout(time.Millisecond)
			waitDone(t, ctx)
		}, ErrRequestTimeout},
		{"a longer timeout does not lengthen the deadline", func(t *testing.T, ex *Exchange, ctx context.Context, _ context.CancelFunc) {
			ex.SetTimeout(time.Millisecond)
			ex.SetTimeout(time.Hour)
			waitDone(t, ctx)
		}, ErrRequestTimeout},
		{"idle timeout while waiting for headers", func(t *testing.T, ex *Exchange, ctx context.Context, _ context.CancelFunc) {
			ex.SetTimeout(time.Hour)
			ex.IdleTimeout = time.Millisecond
			ex.StartIdle()
			waitDone(t, ctx)
		}, ErrIdleTimeout},
		{"client gone before any deadline", func(t *testing.T, ex *Exchange, ctx context.Context, clientGone context.CancelFunc) {
			ex.SetTimeout(time.Hour)
			clientGone()
			waitDone(t, ctx)
			ex.SetTimeout(time.Nanosecond)
			ex.Cancel(ErrIdleTimeout)
		}, context.Canceled},
		{"timeout first, then the client goes", func(t *testing.T, ex *Exchange, ctx context.Context, clientGone context.CancelFunc) {
			ex.SetTimeout(time.Millisecond)
			waitDone(t, ctx)
			clientGone()
		}, ErrRequestTimeout},
		{"drain ends the exchange; a later deadline keeps the cause", func(t *testing.T, ex *Exchange, ctx context.Context, _ context.CancelFunc) {
			ex.Cancel(ErrDraining)
			ex.SetTimeout(time.Nanosecond)
			waitDone(t, ctx)
		}, ErrDraining},
		{"end: no cause", func(t *testing.T, ex *Exchange, ctx context.Context, _ context.CancelFunc) {
			ex.SetTimeout(time.Hour)
			ex.End()
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, clientGone := context.WithCancel(context.Background())
			defer clientGone()
			ex := &Exchange{}
			ctx := ex.Bind(parent)
			defer ex.End()
			tt.run(t, ex, ctx, clientGone)
			if got := context.Cause(ctx); !errors.Is(got, tt.want) {
				t.Errorf("cause = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestExchangeIdleClock drives the one timer's callback by hand: a timer
// that fires before the (moved) idle deadline re-arms for it, and one
// that fires after it ends the exchange.
func TestExchangeIdleClock(t *testing.T) {
	ex := &Exchange{IdleTimeout: time.Hour}
	ctx := ex.Bind(context.Background())
	defer ex.End()
	ex.StartIdle()
	c := &ex.ctx
	backdate := func() { c.last.Store(int64(time.Since(epoch) - 2*time.Hour)) }

	backdate()
	ex.Touch() // activity since: the deadline moved an hour ahead
	c.fire()
	if ctx.Err() != nil {
		t.Fatalf("a touched stream ended: %v", context.Cause(ctx))
	}
	if c.armed.IsZero() || time.Until(c.armed) < 59*time.Minute {
		t.Fatalf("timer re-armed for %v, want about an hour ahead", c.armed)
	}

	backdate()
	c.fire()
	if got := context.Cause(ctx); !errors.Is(got, ErrIdleTimeout) {
		t.Fatalf("cause = %v, want %v", got, ErrIdleTimeout)
	}
}

func TestExchangeContextValues(t *testing.T) {
	ex := &Exchange{}
	if ex.Bound() || ex.SetTimeout(time.Second) {
		t.Fatal("an unbound exchange reports bound, or took a deadline")
	}
	ctx := ex.Bind(context.Background())
	defer ex.End()
	if !ex.Bound() {
		t.Fatal("bound exchange reports unbound")
	}
	if ExchangeFrom(ctx) != ex {
		t.Fatal("ExchangeFrom does not find the exchange")
	}
	if _, ok := ctx.Deadline(); ok {
		t.Fatal("deadline before any timeout")
	}
	ex.SetTimeout(time.Hour)
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > time.Hour {
		t.Fatalf("deadline = %v, %v", d, ok)
	}
	if _, ok := identity.From(ctx); ok {
		t.Fatal("a principal before authentication")
	}
	p := &identity.Principal{Subject: "a"}
	ex.Principal = p
	if got, _ := identity.From(ctx); got != p {
		t.Fatalf("identity.From = %v, want the exchange's principal", got)
	}
	// A context derived below the exchange's still finds both.
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	if got, _ := identity.From(child); got != p || ExchangeFrom(child) != ex {
		t.Fatal("a derived context lost the exchange's values")
	}
	// Cancelling the exchange reaches contexts derived from it, with its
	// cause (the retry policy's per-try contexts).
	ex.Cancel(ErrIdleTimeout)
	if !errors.Is(context.Cause(child), ErrIdleTimeout) {
		t.Fatalf("child cause = %v", context.Cause(child))
	}
}
