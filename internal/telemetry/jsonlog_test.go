package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/auditlog"
)

// jsonPair is the fast handler and slog.JSONHandler, each on its own
// buffer, with the same attributes and groups applied.
type jsonPair struct {
	fast, slow slog.Handler
	fb, sb     *bytes.Buffer
}

func newJSONPair(level slog.Level) *jsonPair {
	p := &jsonPair{fb: &bytes.Buffer{}, sb: &bytes.Buffer{}}
	opts := &slog.HandlerOptions{Level: level}
	p.fast = newJSONHandler(p.fb, opts)
	p.slow = slog.NewJSONHandler(p.sb, opts)
	return p
}

func (p *jsonPair) with(as ...slog.Attr) *jsonPair {
	return &jsonPair{fast: p.fast.WithAttrs(as), slow: p.slow.WithAttrs(as), fb: p.fb, sb: p.sb}
}

func (p *jsonPair) group(name string) *jsonPair {
	return &jsonPair{fast: p.fast.WithGroup(name), slow: p.slow.WithGroup(name), fb: p.fb, sb: p.sb}
}

func (p *jsonPair) check(t *testing.T, r slog.Record) {
	t.Helper()
	p.fb.Reset()
	p.sb.Reset()
	ctx := context.Background()
	if p.fast.Enabled(ctx, r.Level) != p.slow.Enabled(ctx, r.Level) {
		t.Fatalf("Enabled(%v) differs", r.Level)
	}
	if err := p.fast.Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	_ = p.slow.Handle(ctx, r)
	if p.fb.String() != p.sb.String() {
		t.Fatalf("fast handler wrote\n%s\nslog.JSONHandler wrote\n%s", p.fb, p.sb)
	}
}

func record(tm time.Time, lvl slog.Level, msg string, as ...slog.Attr) slog.Record {
	r := slog.NewRecord(tm, lvl, msg, 0)
	r.AddAttrs(as...)
	return r
}

// The records the gateway writes per request, byte for byte.
func TestJSONHandlerMatchesSlogOnGatewayRecords(t *testing.T) {
	now := time.Date(2026, 11, 26, 13, 4, 5, 123456789, time.UTC)
	p := newJSONPair(slog.LevelInfo)
	access := []slog.Attr{
		slog.Bool("access", true), slog.String("route", "agent-to-mcp-tools"), slog.String("backend", "agent-core-mcp-backend"),
		slog.String("http_method", "POST"), slog.String("path", "/mcp"), slog.String("method", "tools/call"),
		slog.Int("status", 200), slog.Float64("duration_ms", float64(1234)/1000), slog.Int64("bytes", 1024),
		slog.String("identity", "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"),
		slog.String("tool", "get_weather_data"), slog.String("decision", "allowed"), slog.String("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
	}
	p.check(t, record(now, slog.LevelInfo, "access", access...))
	p.check(t, record(now.In(time.FixedZone("x", 5*3600+1800)), slog.LevelWarn, "request failed", slog.Int("rule", -1), slog.Duration("d", 1500*time.Millisecond)))
	p.check(t, record(time.Time{}, slog.LevelError, "no time"))
	p.check(t, record(now, slog.LevelInfo+2, "odd level", slog.Uint64("u", math.MaxUint64)))
	p.check(t, record(now, slog.LevelDebug, "below the level"))
	// What the fast path leaves to slog.
	p.check(t, record(now, slog.LevelInfo, "any", slog.Any("err", errors.New("boom")), slog.String("after", "x")))
	p.check(t, record(now, slog.LevelInfo, "group", slog.Group("g", slog.Int("a", 1)), slog.Group("empty")))
	p.check(t, record(now, slog.LevelInfo, "empty key", slog.Attr{}, slog.String("", "v")))
	p.check(t, record(now, slog.LevelInfo, "nan", slog.Float64("f", math.NaN())))
	p.check(t, record(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), slog.LevelInfo, "year"))
	p.check(t, record(now, slog.LevelInfo, "time attr", slog.Time("at", now)))
	// Loggers derived with With and WithGroup, as the jwt policy's.
	w := p.with(slog.String("policy", "jwt-authn")).with(slog.String("route", "r"))
	w.check(t, record(now, slog.LevelInfo, "jwks keys loaded", slog.String("kids", "[a b]")))
	w.with(slog.Any("x", []int{1})).check(t, record(now, slog.LevelInfo, "slow with", slog.Int("n", 1)))
	w.group("g").check(t, record(now, slog.LevelInfo, "grouped", slog.Int("n", 1)))
	w.group("g").check(t, record(now, slog.LevelInfo, "grouped, no attrs"))
	for _, f := range []float64{0, math.Copysign(0, -1), 1, 0.1, 1e-7, 1.5e-6, 123456789, 1e20, 1e21, 1.7976931348623157e308, -2.5e-10, 5e-324} {
		p.check(t, record(now, slog.LevelInfo, "float", slog.Float64("f", f)))
	}
}

// Any string, key or message: escaping matches slog's.
func TestJSONHandlerMatchesSlogOnRandomStrings(t *testing.T) {
	now := time.Date(2026, 11, 26, 13, 4, 5, 0, time.UTC)
	p := newJSONPair(slog.LevelDebug)
	specials := []string{"\"", "\\", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "<&>", "\u2028", "\u2029", "é", "日本", "\xff", "\xe2\x80", "\U0001F600", "\ufffd", "/", "'"}
	rng := rand.New(rand.NewPCG(8, 26))
	randString := func() string {
		var b strings.Builder
		for range rng.IntN(12) {
			switch rng.IntN(3) {
			case 0:
				b.WriteByte(byte(rng.IntN(256)))
			case 1:
				b.WriteString(specials[rng.IntN(len(specials))])
			default:
				b.WriteString("abcXYZ019 _-.:")
			}
		}
		return b.String()
	}
	for range 5000 {
		p.check(t, record(now, slog.LevelInfo, randString(), slog.String(randString()+"k", randString()), slog.String("v", randString())))
	}
}

// The logger NewLogger builds writes through the fast handler, and the
// text format is untouched.
func TestNewLoggerJSONIsFast(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewLogger(&buf, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Handler().(*jsonHandler); !ok {
		t.Fatalf("handler %T", l.Handler())
	}
	l.Info("hello", "n", 1)
	if !strings.HasSuffix(buf.String(), `"level":"INFO","msg":"hello","n":1}`+"\n") {
		t.Fatalf("wrote %q", buf.String())
	}
}

func BenchmarkAccessRecord(b *testing.B) {
	attrs := []slog.Attr{
		slog.Bool("access", true), slog.String("route", "agent-to-mcp-tools"), slog.String("backend", "agent-core-mcp-backend"),
		slog.String("http_method", "POST"), slog.String("path", "/mcp"), slog.String("method", "tools/call"),
		slog.Int("status", 200), slog.Float64("duration_ms", 1.234), slog.Int64("bytes", 1024),
		slog.String("identity", "system:serviceaccount:agent-core-infra:ekspoc-v6-kagent-agent-sa"),
		slog.String("tool", "get_weather_data"), slog.String("decision", "allowed"), slog.String("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
	}
	for _, c := range []struct {
		name string
		h    slog.Handler
	}{{"slog", slog.NewJSONHandler(discard{}, nil)}, {"fast", newJSONHandler(discard{}, nil)}} {
		b.Run(c.name, func(b *testing.B) {
			l := slog.New(c.h)
			b.ReportAllocs()
			for b.Loop() {
				l.LogAttrs(context.Background(), slog.LevelInfo, "access", attrs...)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// auditlog.LogAttrs through the fast handler writes what LogAttrs writes,
// and falls back for what the fast path leaves to slog, and to a handler
// that filters (logging.audit: false).
func TestLogAttrsFastPath(t *testing.T) {
	stripTime := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if i := strings.Index(l, `"level"`); i > 0 {
				l = l[i:]
			}
			out = append(out, l)
		}
		return strings.Join(out, "\n")
	}
	cases := [][]slog.Attr{
		{slog.Bool("audit", true), slog.String("policy", "mcp-authz"), slog.Int("rule", 0), slog.String("trace_id", "x\"y")},
		{slog.String("a", "b"), slog.Any("err", errors.New("e"))},
		nil,
	}
	for _, attrs := range cases {
		var fast, slow bytes.Buffer
		lf, _ := NewLogger(&fast, "json", "info")
		ls := slog.New(slog.NewJSONHandler(&slow, nil))
		lf = lf.With("route", "r")
		ls = ls.With("route", "r")
		auditlog.LogAttrs(context.Background(), lf, slog.LevelInfo, "authz allow", attrs...)
		auditlog.LogAttrs(context.Background(), lf, slog.LevelDebug, "below the level", attrs...)
		ls.LogAttrs(context.Background(), slog.LevelInfo, "authz allow", attrs...)
		if stripTime(fast.String()) != stripTime(slow.String()) {
			t.Errorf("auditlog.LogAttrs wrote\n%s\nslog wrote\n%s", fast.String(), slow.String())
		}
	}
	var buf bytes.Buffer
	l, _ := NewLogger(&buf, "json", "info")
	l = slog.New(WithoutAudit(l.Handler()))
	auditlog.LogAttrs(context.Background(), l, slog.LevelInfo, "authz allow", slog.Bool("audit", true))
	auditlog.LogAttrs(context.Background(), l, slog.LevelInfo, "access", slog.Bool("access", true))
	if got := buf.String(); strings.Contains(got, "authz") || !strings.Contains(got, `"access":true`) {
		t.Errorf("with the audit filter: %q", got)
	}
}
