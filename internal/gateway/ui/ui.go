// Package ui serves the gateway's read-only status pages on the admin
// listener: routes with their policy chains and backends, authentication
// health, the last authorization decisions and the effective config,
// redacted. The pages are rendered on the server from templates embedded
// in the binary: they load nothing from the internet and run no script.
package ui

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

// Status is what the pages show, a snapshot taken per page view.
type Status struct {
	Generated time.Time
	Ready     bool
	// Listeners are the bind ports with their routes, in the order the
	// gateway matches them (longest prefix first).
	Listeners []Listener
	Auth      Auth
	// Decisions are the latest authorization decisions, newest first.
	Decisions []Decision
	// DecisionCapacity is how many decisions are kept.
	DecisionCapacity int
	// Config is the effective config with secrets redacted.
	Config any
}

// Listener is one bind port.
type Listener struct {
	Address string
	TLS     bool
	Routes  []Route
}

// Route is one route and its chain.
type Route struct {
	Name   string
	Prefix string
	Kind   string // mcp, a2a or http
	// Policies are the policy types in the order requests pass them.
	Policies []string
	Backends []Backend
}

// Backend is one backend with its circuit breaker.
type Backend struct {
	Name    string
	Address string
	// Breaker is closed, open, half-open or "off" (no consecutive-failure
	// ejection configured).
	Breaker string
	// OpenUntil is when an open breaker lets a probe through.
	OpenUntil time.Time
	Ejections int
	InFlight  int64
	// Errors are the most recent failed attempts, newest first.
	Errors []BackendError
}

// BackendError is one failed upstream attempt.
type BackendError struct {
	Time    time.Time
	Message string
}

// Auth is the health of the credential checks the config uses.
type Auth struct {
	JWKS        Health
	TokenReview Health
}

// Health counts the outcomes of one kind of check.
type Health struct {
	// Used is set when a route of the running config uses the check.
	Used       bool
	OK, Failed uint64
	LastOK     time.Time
	LastFailed time.Time
	// LastResult is the outcome of the latest check ("ok", "error", ...).
	LastResult string
}

// Decision is one authorization decision, as its audit record has it,
// without credentials.
type Decision struct {
	Time     time.Time
	Route    string
	Policy   string // mcp-authz or a2a-authz
	Decision string // allow, deny, rate_limited
	Identity string
	Method   string
	// Kind is what was decided about: tool, resource, prompt or agent.
	Kind   string
	Target string
	// Rule is the deciding rule's index in the policy, -1 for none.
	Rule   int
	Reason string
}

//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"ago": ago,
	"row": func(name string, h Health) struct {
		Name string
		H    Health
	} {
		return struct {
			Name string
			H    Health
		}{name, h}
	},
	"when": func(t time.Time) string { return t.UTC().Format("15:04:05.000") },
	"json": func(v any) (string, error) {
		b, err := json.MarshalIndent(v, "", "  ")
		return string(b), err
	},
}).ParseFS(assets, "assets/*.html"))

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

// Handler serves the pages under /ui: /ui (routes, backends and
// authentication), /ui/decisions, /ui/config and /ui/style.css. status is
// called once per page view.
func Handler(status func() Status) http.Handler {
	mux := http.NewServeMux()
	page := func(name, title string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			st := status()
			var buf bytes.Buffer
			if err := pages.ExecuteTemplate(&buf, name, struct {
				Title, Page string
				Status
			}{title, name, st}); err != nil {
				http.Error(w, "rendering the status page failed", http.StatusInternalServerError)
				return
			}
			headers(w, "text/html; charset=utf-8")
			_, _ = w.Write(buf.Bytes())
		}
	}
	mux.HandleFunc("GET /ui", page("routes", "Routes"))
	mux.HandleFunc("GET /ui/{$}", page("routes", "Routes"))
	mux.HandleFunc("GET /ui/decisions", page("decisions", "Decisions"))
	mux.HandleFunc("GET /ui/config", page("config", "Config"))
	css, err := fs.ReadFile(assets, "assets/style.css")
	if err != nil {
		panic(err) // embedded at build time
	}
	mux.HandleFunc("GET /ui/style.css", func(w http.ResponseWriter, r *http.Request) {
		headers(w, "text/css; charset=utf-8")
		_, _ = w.Write(css)
	})
	return mux
}

// headers keep the pages inert: no script, nothing from elsewhere, no
// framing, no caching of what may name identities.
func headers(w http.ResponseWriter, ctype string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
}
