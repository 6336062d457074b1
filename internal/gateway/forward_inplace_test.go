package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/config"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// TestLeanPathSendsTheInboundRequest: on the lean path the outgoing
// request is the inbound one (no copy), rewritten for the backend while
// the exchange is proxied and put back afterwards, so the policies the
// call returns through see the request the client sent.
func TestLeanPathSendsTheInboundRequest(t *testing.T) {
	var gotPath, gotHost string
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotHost = r.URL.RequestURI(), r.Host
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	defer be.Close()
	d := &deps{log: slog.New(slog.DiscardHandler), transport: newTransport(), upstream: newUpstreamClient(), drain: newDrainer()}
	b, err := newBackend(&config.Backend{Name: "b", Address: be.URL + "/base"}, &route{name: "r", prefix: "/api"}, d)
	if err != nil {
		t.Fatal(err)
	}
	if b.lean == nil {
		t.Fatal("the backend is not on the lean path")
	}

	for _, withEdge := range []bool{true, false} {
		t.Run(map[bool]string{true: "edge", false: "no edge"}[withEdge], func(t *testing.T) {
			ex := &policy.Exchange{Method: http.MethodPost, PathRest: "/x", Body: []byte(`{}`)}
			if withEdge {
				ex.Edge = &edgeState{}
			}
			r := httptest.NewRequest(http.MethodPost, "http://gw.example/api/x?q=1", strings.NewReader(`{}`))
			r = r.WithContext(ex.Bind(context.Background()))
			defer ex.End()
			inURL, inCtx := r.URL, r.Context()
			var sent *http.Request
			var sentHost string
			ex.ResponseHooks = append(ex.ResponseHooks, func(res *http.Response) error {
				sent, sentHost = res.Request, res.Request.URL.Host
				return nil
			})
			w := httptest.NewRecorder()
			if err := b.ServeHTTP(w, r); err != nil {
				t.Fatal(err)
			}
			if w.Code != http.StatusOK || w.Body.String() != "ok" {
				t.Fatalf("response %d %q", w.Code, w.Body.String())
			}
			if gotPath != "/base/x?q=1" || gotHost != strings.TrimPrefix(be.URL, "http://") {
				t.Errorf("backend got %s (Host %s)", gotPath, gotHost)
			}
			if sent != r {
				t.Error("the outgoing request is a copy of the inbound one")
			}
			if sentHost != gotHost {
				t.Errorf("outgoing URL host %q while proxied, want the backend's", sentHost)
			}
			if r.URL != inURL || r.URL.String() != "http://gw.example/api/x?q=1" || r.Host != "gw.example" ||
				r.RequestURI != "http://gw.example/api/x?q=1" || r.Context() != inCtx {
				t.Errorf("the inbound request was not put back: %s %s %q", r.URL, r.Host, r.RequestURI)
			}
			if es, ok := ex.Edge.(*edgeState); ok && es.up.Load() != nil {
				t.Error("the edge still points at the backend's state")
			}
		})
	}
}
