package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"sort"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/gateway/ui"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	"github.com/agentgateway-go/agentgateway/internal/policy/jwt"
	"github.com/agentgateway-go/agentgateway/internal/telemetry"
)

// This file feeds the admin listener's status pages (/ui, package ui)
// and its JSON config dump (/config). Everything here belongs to one
// Gateway: two gateways in a process (tests) never share a ring.

// decisionCapacity bounds the decisions the status page keeps.
const decisionCapacity = 100

// decisionRing keeps the latest authorization decisions.
type decisionRing struct {
	mu   sync.Mutex
	buf  [decisionCapacity]ui.Decision
	next int
	full bool
}

func (d *decisionRing) add(e ui.Decision) {
	d.mu.Lock()
	d.buf[d.next] = e
	d.next = (d.next + 1) % len(d.buf)
	if d.next == 0 {
		d.full = true
	}
	d.mu.Unlock()
}

// snapshot returns the decisions newest first.
func (d *decisionRing) snapshot() []ui.Decision {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.next
	if d.full {
		n = len(d.buf)
	}
	out := make([]ui.Decision, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, d.buf[(d.next-i+len(d.buf))%len(d.buf)])
	}
	return out
}

// decisionTap is the gateway logger's outermost handler: it copies the
// audit records of mcp-authz and a2a-authz into the decision ring, then
// hands every record on unchanged. The audit record is where the deciding
// code states the rule, so the page shows exactly what the audit log
// says. Only named, credential-free attributes are copied: never a
// token, a header or a body.
//
// Records at INFO and above are tapped whatever the log level (the ring
// is not the log): denies and tool, resource, prompt and agent allows.
// The other allows are DEBUG records and reach the ring only when the
// log level is debug.
type decisionTap struct {
	next  slog.Handler
	ring  *decisionRing
	pre   []slog.Attr // from WithAttrs
	group bool        // attributes are nested in a group: not an audit record we read
}

func (h *decisionTap) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *decisionTap) Handle(ctx context.Context, r slog.Record) error {
	if !h.group {
		var attrs []slog.Attr
		r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
		h.tap(r.Time, attrs)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// HandleAttrs keeps auditlog.LogAttrs's fast path (a handler that writes a
// record from its attributes) for the handler underneath.
func (h *decisionTap) HandleAttrs(level slog.Level, msg string, attrs []slog.Attr) bool {
	if !h.group {
		h.tap(time.Now(), attrs)
	}
	ctx := context.Background()
	if !h.next.Enabled(ctx, level) {
		return true
	}
	if fh, ok := h.next.(interface {
		HandleAttrs(slog.Level, string, []slog.Attr) bool
	}); ok && fh.HandleAttrs(level, msg, attrs) {
		return true
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	_ = h.next.Handle(ctx, r)
	return true
}

func (h *decisionTap) WithAttrs(as []slog.Attr) slog.Handler {
	return &decisionTap{next: h.next.WithAttrs(as), ring: h.ring, pre: append(h.pre[:len(h.pre):len(h.pre)], as...), group: h.group}
}

func (h *decisionTap) WithGroup(name string) slog.Handler {
	return &decisionTap{next: h.next.WithGroup(name), ring: h.ring, pre: h.pre, group: true}
}

func (h *decisionTap) tap(t time.Time, attrs []slog.Attr) {
	var d ui.Decision
	audit := false
	d.Rule = -1
	read := func(a slog.Attr) {
		switch a.Key {
		case "audit":
			audit = a.Value.Kind() == slog.KindBool && a.Value.Bool()
		case "policy":
			d.Policy = a.Value.String()
		case "route":
			d.Route = a.Value.String()
		case "decision":
			d.Decision = a.Value.String()
		case "principal", "source":
			d.Identity = a.Value.String()
		case "method":
			d.Method = a.Value.String()
		case "tool", "resource", "prompt":
			d.Kind, d.Target = a.Key, a.Value.String()
		case "target":
			d.Kind, d.Target = "agent", a.Value.String()
		case "rule":
			if a.Value.Kind() == slog.KindInt64 {
				d.Rule = int(a.Value.Int64())
			}
		case "reason":
			d.Reason = a.Value.String()
		}
	}
	for _, a := range h.pre {
		read(a)
	}
	for _, a := range attrs {
		read(a)
	}
	if !audit || (d.Policy != config.PolicyMCPAuthz && d.Policy != config.PolicyA2AAuthz) {
		return
	}
	d.Time = t
	h.ring.add(d)
}

// authHealth is the recorder policies report to: it keeps the JWKS and
// TokenReview outcomes for the status page and passes everything on.
type authHealth struct {
	policy.Recorder
	mu         sync.Mutex
	jwks, trev ui.Health
}

func (a *authHealth) JWKSFetch(ok bool) {
	a.Recorder.JWKSFetch(ok)
	a.mu.Lock()
	defer a.mu.Unlock()
	if ok {
		a.jwks.OK++
		a.jwks.LastOK, a.jwks.LastResult = time.Now(), "ok"
	} else {
		a.jwks.Failed++
		a.jwks.LastFailed, a.jwks.LastResult = time.Now(), "failed"
	}
}

func (a *authHealth) TokenReview(result string) {
	a.Recorder.TokenReview(result)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.trev.LastResult = result
	// "denied" is a TokenReview that worked and refused a token.
	if result == "error" {
		a.trev.Failed++
		a.trev.LastFailed = time.Now()
	} else {
		a.trev.OK++
		a.trev.LastOK = time.Now()
	}
}

func (a *authHealth) snapshot() ui.Auth {
	a.mu.Lock()
	defer a.mu.Unlock()
	return ui.Auth{JWKS: a.jwks, TokenReview: a.trev}
}

// backendErrors keeps a backend's latest failed attempts.
type backendErrors struct {
	mu   sync.Mutex
	errs [5]ui.BackendError
	n    int // total recorded
}

// maxErrorText bounds the text kept of one error.
const maxErrorText = 300

func (b *backendErrors) add(msg string) {
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText] + "…"
	}
	b.mu.Lock()
	b.errs[b.n%len(b.errs)] = ui.BackendError{Time: time.Now(), Message: msg}
	b.n++
	b.mu.Unlock()
}

func (b *backendErrors) snapshot() []ui.BackendError {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(b.n, len(b.errs))
	out := make([]ui.BackendError, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, b.errs[(b.n-i)%len(b.errs)])
	}
	return out
}

// snapshot is the breaker's state for the status page.
func (b *breaker) snapshot() (state string, until time.Time, ejections int) {
	if b.threshold <= 0 {
		return "off", time.Time{}, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerOpen:
		state = "open"
	case breakerHalfOpen:
		state = "half-open"
	default:
		state = "closed"
	}
	return state, b.until, b.ejections
}

// Status returns what the status pages show.
func (g *Gateway) Status() ui.Status {
	st := ui.Status{Generated: time.Now(), Ready: g.ready.Load(), Auth: g.health.snapshot(),
		Decisions: g.decisions.snapshot(), DecisionCapacity: decisionCapacity}
	rt := g.acquire()
	if rt == nil {
		return st
	}
	defer rt.release()
	ports := make([]int, 0, len(rt.ports))
	for p := range rt.ports {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	for _, p := range ports {
		pr := rt.ports[p]
		l := ui.Listener{Address: pr.addr, TLS: pr.tls != nil}
		for _, r := range pr.routes {
			l.Routes = append(l.Routes, r.status())
		}
		st.Listeners = append(st.Listeners, l)
	}
	st.Auth.JWKS.Used, st.Auth.TokenReview.Used = usesJWKS(rt.cfg)
	st.Config = RedactedConfig(rt.cfg)
	return st
}

func (r *route) status() ui.Route {
	out := ui.Route{Name: r.name, Prefix: r.prefix, Kind: telemetry.KindLabel(r.kind), Policies: r.policies}
	for _, b := range r.backends {
		s, until, ej := b.brk.snapshot()
		out.Backends = append(out.Backends, ui.Backend{Name: b.name, Address: config.RedactURL(b.target.String()),
			Breaker: s, OpenUntil: until, Ejections: ej, InFlight: b.brk.inflight.Load(), Errors: b.errs.snapshot()})
	}
	return out
}

// usesJWKS reports whether cfg's jwt-authn policies verify tokens against
// a JWKS and whether they use TokenReview.
func usesJWKS(cfg *config.Config) (jwks, tokenReview bool) {
	for _, b := range cfg.Binds {
		for _, l := range b.Listeners {
			for _, r := range l.Routes {
				for _, p := range r.Policies {
					j := jwt.ConfigOf(&p)
					if j == nil {
						continue
					}
					if j.TokenReview != nil {
						tokenReview = true
					} else {
						jwks = true
					}
				}
			}
		}
	}
	return jwks, tokenReview
}

// Redacted marks a value the status pages and /config do not show.
const Redacted = "[REDACTED]"

// RedactedConfig returns cfg as generic YAML/JSON data with secrets
// replaced by Redacted: the value of every field whose name ends in
// password, secret, token or privateKey (file paths such as passwordFile
// stay), and the password of every URL with credentials. Unset fields are
// left out. Key material never appears inline in a config (certificates
// and keys are files), so paths are all that is shown of it.
func RedactedConfig(cfg *config.Config) any {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return map[string]any{"error": "config could not be rendered"}
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return map[string]any{"error": "config could not be rendered"}
	}
	return redact("", v)
}

func redact(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if e == nil {
				continue
			}
			out[k] = redact(k, e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redact(key, e)
		}
		return out
	case string:
		if config.SecretKey(key) && x != "" {
			return Redacted
		}
		return config.RedactURL(x)
	}
	return v
}

// statusHandlers mounts the status pages, the config dump and, when
// admin.pprof is on, the profiling endpoints.
func (g *Gateway) statusHandlers(mux *http.ServeMux, cfg *config.Config) {
	pages := ui.Handler(g.Status)
	mux.Handle("GET /ui", pages)
	mux.Handle("GET /ui/", pages)
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		cur := g.currentConfig()
		if cur == nil {
			http.Error(w, "no config loaded", http.StatusServiceUnavailable)
			return
		}
		b, err := json.MarshalIndent(RedactedConfig(cur), "", "  ")
		if err != nil {
			http.Error(w, "config could not be rendered", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(b)
	})
	if cfg.Admin != nil && cfg.Admin.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
}
