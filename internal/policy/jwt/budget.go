package jwt

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// clientBudgetSize bounds the clients whose budgets are remembered.
const clientBudgetSize = 16384

// clientBudget is a token bucket per client for TokenReviews that no
// cached answer covers. Without it, one source sending a stream of unique,
// plausible forged tokens spends the API quota all callers share (the
// client-side limit towards the API server, and the API server's own
// priority and fairness), and new legitimate tokens wait behind the flood
// until they time out.
type clientBudget struct {
	limit rate.Limit
	burst int
	max   int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newClientBudget(perMinute, burst, max int) *clientBudget {
	return &clientBudget{limit: rate.Limit(float64(perMinute) / 60), burst: burst, max: max, m: map[string]*rate.Limiter{}}
}

// take charges one review to client at now. It returns 0 when the review
// may go ahead, or how long until the client has one again.
func (b *clientBudget) take(client string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.m[client]
	if l == nil {
		if len(b.m) >= b.max {
			b.prune(now)
		}
		l = rate.NewLimiter(b.limit, b.burst)
		b.m[client] = l
	}
	res := l.ReserveN(now, 1)
	if !res.OK() {
		return time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// prune forgets the clients whose bucket is full again (a fresh bucket is
// the same), then, if every bucket is still in use, an arbitrary eighth:
// memory stays bounded, and a forgotten client only gets a fresh burst.
func (b *clientBudget) prune(now time.Time) {
	for k, l := range b.m {
		if l.TokensAt(now) >= float64(b.burst) {
			delete(b.m, k)
		}
	}
	for k := range b.m {
		if len(b.m) < b.max-b.max/8 {
			break
		}
		delete(b.m, k)
	}
}

// clientKey names the client a request's budget is charged to: the peer IP
// (for IPv6, its /64, which one host usually holds entirely). Behind a
// proxy every client shares the proxy's address; see docs/jwt.md.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}
