// Package gateway builds and runs the listeners, routes and policy chains
// described by a config, and swaps them atomically on reload.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/federation"
	"github.com/agentgateway-go/agentgateway/internal/gcra"
	"github.com/agentgateway-go/agentgateway/internal/sharedstate"
	"github.com/agentgateway-go/agentgateway/internal/upstream"
)

// Options configure a Gateway.
type Options struct {
	Logger *slog.Logger
	// Observer wraps policies and observes finished exchanges; nil means
	// no telemetry.
	Observer Observer
	// AdminHandlers are mounted on the admin (health/metrics) listener.
	AdminHandlers map[string]http.Handler
	// Transport overrides the upstream transport (tests). It takes every
	// exchange through ReverseProxy: the lean client is not used.
	Transport http.RoundTripper
	// Dial, if set, opens the upstream connections of both the lean
	// client and the fallback transport (tests and benchmarks: an
	// in-memory backend on the path production takes). Ignored with
	// Transport.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Limits overrides the rate-limit store (counts and MCP session
	// bindings) of every policy (tests: a fresh store; policy.Env.Limits).
	Limits *sharedstate.Store
}

// Gateway serves one config at a time and can swap it while running.
type Gateway struct {
	log  *slog.Logger
	deps *deps
	opts Options

	cur   atomic.Pointer[runtime]
	ready atomic.Bool

	// decisions and health feed the status pages (status.go).
	decisions *decisionRing
	health    *authHealth

	mu      sync.Mutex // serialises Apply and Shutdown
	servers map[int]*boundServer
	admin   *boundServer
	closed  bool
}

type boundServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// New returns a gateway with no config; call Apply to load one.
func New(opts Options) *Gateway {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	tr := opts.Transport
	var lean *upstream.Client
	var versions *versionTransports
	if tr == nil {
		t := newTransport()
		lean = newUpstreamClient()
		if opts.Dial != nil {
			t.DialContext = opts.Dial
			lean.DialContext = opts.Dial
		}
		versions = newVersionTransports(t)
		tr = t
	}
	// The authorization policies' audit records also feed the status
	// page's decision list, through the logger they are given.
	decisions := &decisionRing{}
	opts.Logger = slog.New(&decisionTap{next: opts.Logger.Handler(), ring: decisions})
	health := &authHealth{Recorder: recorderOf(opts.Observer)}
	sessions := newSessionTracker(opts.Logger)
	if so, ok := opts.Observer.(sessionObserver); ok {
		sessions.obs = so
	}
	return &Gateway{
		log:  opts.Logger,
		opts: opts,
		deps: &deps{log: opts.Logger, transport: tr, versions: versions, upstream: lean, observer: opts.Observer, rec: health,
			drain: newDrainer(), lim: &limiter{}, sessions: sessions, limits: opts.Limits, fedKeys: federation.RandomKeys(),
			fedOpens: gcra.NewLocal(65536)},
		servers:   map[int]*boundServer{},
		decisions: decisions,
		health:    health,
	}
}

// Apply provisions cfg and, if that succeeds, swaps it in and opens or
// closes bind ports to match. On any error the running config is left
// untouched. cfg must be defaulted and validated.
func (g *Gateway) Apply(ctx context.Context, cfg *config.Config) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errors.New("gateway is shut down")
	}
	rt, err := build(ctx, cfg, g.deps)
	if err != nil {
		return err
	}
	if err := g.checkTLSSwitch(rt); err != nil {
		rt.release()
		return err
	}
	// Open new ports before the swap so a port we cannot bind fails the
	// reload instead of silently dropping routes.
	opened := map[int]*boundServer{}
	for _, b := range cfg.Binds {
		if _, ok := g.servers[b.Port]; ok {
			continue
		}
		bs, err := g.listen(rt.ports[b.Port].addr, &portHandler{g: g, port: b.Port}, cfg)
		if err != nil {
			for _, o := range opened {
				_ = o.ln.Close()
			}
			rt.release()
			return fmt.Errorf("bind %d: %w", b.Port, err)
		}
		g.serveTLS(bs, b.Port, rt.ports[b.Port])
		opened[b.Port] = bs
	}
	if g.admin == nil {
		if err := g.startAdmin(cfg); err != nil {
			for _, o := range opened {
				_ = o.ln.Close()
			}
			rt.release()
			return err
		}
	} else if g.admin.ln.Addr().(*net.TCPAddr).Port != cfg.Admin.Port {
		g.log.Warn("admin port change needs a restart; keeping the current admin listener", "port", cfg.Admin.Port)
	}
	old := g.cur.Swap(rt)
	for port, bs := range opened {
		g.servers[port] = bs
		go g.serve(bs)
	}
	for port, bs := range g.servers {
		if _, ok := rt.ports[port]; !ok {
			delete(g.servers, port)
			go func(bs *boundServer) {
				ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownGracePeriod.D())
				defer cancel()
				_ = bs.srv.Shutdown(ctx)
			}(bs)
		}
	}
	if old != nil {
		old.release()
	}
	g.ready.Store(true)
	return nil
}

func (g *Gateway) acquire() *runtime {
	for {
		rt := g.cur.Load()
		if rt == nil {
			return nil
		}
		if rt.tryAcquire() {
			return rt
		}
	}
}

// Addr returns the bound address of a bind port (useful with port 0 in
// tests is not supported: binds name their port).
func (g *Gateway) Addr(port int) net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if bs, ok := g.servers[port]; ok {
		return bs.ln.Addr()
	}
	return nil
}

// AdminAddr returns the admin listener's address.
func (g *Gateway) AdminAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.admin == nil {
		return nil
	}
	return g.admin.ln.Addr()
}

func (g *Gateway) listen(addr string, h http.Handler, cfg *config.Config) (*boundServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := cfg.Server
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.ReadHeaderTimeout.D(),
		IdleTimeout:       s.IdleTimeout.D(),
		// No WriteTimeout: it would cut SSE streams. Streams are bounded
		// by the timeout policy and the idle timeout instead.
		MaxHeaderBytes: int(*s.MaxHeaderBytes),
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          s.MaxConcurrentStreams,
			MaxDecoderHeaderTableSize:     4096,
			MaxEncoderHeaderTableSize:     4096,
			MaxReadFrameSize:              1 << 20,
			MaxReceiveBufferPerConnection: 4 << 20,
			MaxReceiveBufferPerStream:     1 << 20,
			SendPingTimeout:               15 * time.Second,
			PingTimeout:                   15 * time.Second,
		},
	}
	// Kubernetes clients and sidecars speak cleartext HTTP/2 (h2c) as
	// well as HTTP/1.1.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	return &boundServer{srv: srv, ln: ln, done: make(chan struct{})}, nil
}

func (g *Gateway) serve(bs *boundServer) {
	defer close(bs.done)
	if err := bs.srv.Serve(bs.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		g.log.Error("listener stopped", "addr", bs.ln.Addr().String(), "err", err)
	}
}

func (g *Gateway) startAdmin(cfg *config.Config) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if !g.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	g.statusHandlers(mux, cfg)
	for p, h := range g.opts.AdminHandlers {
		mux.Handle(p, h)
	}
	bs, err := g.listen(fmt.Sprintf("%s:%d", cfg.Admin.Address, cfg.Admin.Port), mux, cfg)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	g.admin = bs
	go g.serve(bs)
	return nil
}

// Ready reports readiness.
func (g *Gateway) Ready() bool { return g.ready.Load() }

// Shutdown drains the gateway: readiness goes false, listeners stop
// accepting, listening streams end cleanly, unary requests and POST
// streams get until grace to finish, then everything still open is ended
// cleanly. The admin listener closes last.
func (g *Gateway) Shutdown(grace time.Duration) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	g.ready.Store(false)
	servers := make([]*boundServer, 0, len(g.servers))
	for _, bs := range g.servers {
		servers = append(servers, bs)
	}
	g.mu.Unlock()

	deadline := time.Now().Add(grace)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	g.deps.drain.stopStreams()
	// Leave a short tail of the grace period to end the remaining streams
	// cleanly rather than have Shutdown give up on them.
	tail := grace / 10
	if tail > 2*time.Second {
		tail = 2 * time.Second
	}
	hard := time.AfterFunc(grace-tail, g.deps.drain.stopAll)
	defer hard.Stop()

	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, bs := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := bs.srv.Shutdown(ctx); err != nil {
				errs[i] = err
				_ = bs.srv.Close()
			}
			<-bs.done
		}()
	}
	wg.Wait()
	// Parked streams end with the drain (their contexts end on
	// stopStreams and stopAll); wait for their last chunk and their
	// access log lines, within the grace period.
	for g.deps.drain.parked.Load() > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	g.deps.sessions.shutdown()
	if g.admin != nil {
		actx, acancel := context.WithTimeout(context.Background(), time.Second)
		_ = g.admin.srv.Shutdown(actx)
		acancel()
	}
	if rt := g.cur.Swap(nil); rt != nil {
		rt.release()
	}
	// Pooled upstream connections would otherwise outlive the gateway
	// (two goroutines each) until their idle timeout.
	if c, ok := g.deps.transport.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	return errors.Join(errs...)
}
