package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// Breaker states, as exported by agentgateway_circuit_breaker_state.
const (
	breakerClosed   = 0
	breakerOpen     = 1
	breakerHalfOpen = 2
)

// errCircuitOpen marks an attempt refused because the backend is ejected.
// It never reached the backend, and it is not retried: retrying into an
// ejected backend only adds load where the breaker is shedding it.
var errCircuitOpen error = shedCircuitOpen

// breaker protects one backend: it caps the requests in flight to it and
// ejects it after consecutive failures (5xx, connect failures, resets) for
// an interval that doubles with each ejection, up to a maximum. When the
// interval ends, one probe request is let through (half-open); its success
// closes the breaker, its failure ejects the backend again.
//
// Envoy calls these circuit breaking (the caps) and outlier detection (the
// ejections); with a single address per backend they are one object here.
type breaker struct {
	route, backend string
	maxRequests    int64
	threshold      int
	base, max      time.Duration
	log            *slog.Logger
	onState        func(route, backend string, state int)
	now            func() time.Time

	inflight atomic.Int64

	mu        sync.Mutex
	state     int
	fails     int
	ejections int
	until     time.Time
	probing   bool
}

func newBreaker(route string, bc *config.Backend, log *slog.Logger, onState func(string, string, int)) *breaker {
	cb := bc.CircuitBreaker
	if cb == nil {
		cb = &config.CircuitBreaker{}
	}
	return &breaker{
		route: route, backend: bc.Name,
		maxRequests: int64(cb.MaxRequests), threshold: cb.ConsecutiveFailures,
		base: cb.BaseEjectionTime.D(), max: cb.MaxEjectionTime.D(),
		log: log, onState: onState, now: time.Now,
	}
}

// acquire admits one request to the backend, or refuses it with a fast 503.
func (b *breaker) acquire() error {
	if n := b.inflight.Add(1); b.maxRequests > 0 && n > b.maxRequests {
		b.inflight.Add(-1)
		return &policy.Error{Status: http.StatusServiceUnavailable, Message: "backend at its concurrency limit; retry later",
			Header: http.Header{"Retry-After": {"1"}}, Cause: shedBackendBusy}
	}
	return nil
}

func (b *breaker) release() { b.inflight.Add(-1) }

// allow is asked before every attempt, retries included.
func (b *breaker) allow() error {
	if b.threshold <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerOpen:
		now := b.now()
		if now.Before(b.until) {
			return b.openError(b.until.Sub(now))
		}
		b.setState(breakerHalfOpen)
		b.probing = true
		return nil
	case breakerHalfOpen:
		if b.probing {
			return b.openError(time.Second)
		}
		b.probing = true
	}
	return nil
}

func (b *breaker) openError(wait time.Duration) error {
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &policy.Error{Status: http.StatusServiceUnavailable, Message: "backend temporarily ejected after repeated failures; retry later",
		Header: http.Header{"Retry-After": {strconv.Itoa(secs)}}, Cause: errCircuitOpen}
}

// settle ends a half-open probe whose outcome is not counted.
func (b *breaker) settle() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// gatewayTimeout marks an attempt that the gateway's own timeout ended
// before the backend answered (request, idle or per-try timeout). Like
// Envoy's consecutive gateway failures, it counts against the backend: a
// hanging backend is ejected instead of holding every caller for the
// whole timeout. A client that went away does not count.
type gatewayTimeout struct{ error }

func (e gatewayTimeout) Unwrap() error { return e.error }

// attemptError returns err, marked as a gatewayTimeout when the attempt's
// context was ended by one of the gateway's timeouts.
func attemptError(r *http.Request, err error) error {
	if err == nil {
		return nil
	}
	switch c := context.Cause(r.Context()); {
	case errors.Is(c, policy.ErrRequestTimeout), errors.Is(c, policy.ErrIdleTimeout), errors.Is(c, policy.ErrPerTryTimeout):
		return gatewayTimeout{err}
	}
	return err
}

// record reports an attempt's outcome and whether it counted as a failure.
func (b *breaker) record(res *http.Response, err error) bool {
	if b.threshold <= 0 {
		return false
	}
	failed := false
	switch {
	case err != nil:
		var to gatewayTimeout
		failed = policy.IsConnectFailure(err) || policy.IsReset(err) || errors.As(err, &to)
	case res.StatusCode >= 500:
		failed = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !failed && err != nil:
		// Neither success nor the backend's fault (the client went away,
		// the gateway is draining): a probe proved nothing, let the next
		// request probe.
		b.probing = false
	case !failed && b.state == breakerHalfOpen:
		b.probing = false
		b.fails, b.ejections = 0, 0
		b.setState(breakerClosed)
		b.log.Info("backend recovered; circuit closed", "route", b.route, "backend", b.backend)
	case !failed:
		b.fails = 0
	case b.state == breakerHalfOpen:
		b.probing = false
		b.eject()
	case b.state == breakerClosed:
		b.fails++
		if b.fails >= b.threshold {
			b.eject()
		}
	}
	return failed
}

// eject opens the breaker for the next interval; b.mu is held.
func (b *breaker) eject() {
	b.ejections++
	d := b.base
	for i := 1; i < b.ejections && d < b.max; i++ {
		d *= 2
	}
	if b.max > 0 && d > b.max {
		d = b.max
	}
	b.until = b.now().Add(d)
	b.fails = 0
	b.setState(breakerOpen)
	b.log.Warn("backend ejected: circuit open", "route", b.route, "backend", b.backend,
		"consecutive_failures", b.threshold, "ejection", d.String(), "ejections", b.ejections)
}

func (b *breaker) setState(s int) {
	b.state = s
	if b.onState != nil {
		b.onState(b.route, b.backend, s)
	}
}
