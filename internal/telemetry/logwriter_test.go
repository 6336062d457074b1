package telemetry

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the writer goroutine and the
// test to use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  int // Write calls
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Every record arrives, whole and in each writer's order, and Close
// writes the rest.
func TestLogWriterDeliversAllInOrder(t *testing.T) {
	var out lockedBuffer
	w := NewLogWriter(&out, 0)
	const writers, per = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range per {
				fmt.Fprintf(w, "g%d %d\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != writers*per {
		t.Fatalf("%d lines, want %d", len(lines), writers*per)
	}
	for _, l := range lines {
		var g, i int
		if _, err := fmt.Sscanf(l, "g%d %d", &g, &i); err != nil {
			t.Fatalf("torn record %q: %v", l, err)
		}
		if i != next[g] {
			t.Fatalf("writer %d: record %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
	if w.Dropped() != 0 {
		t.Errorf("dropped %d", w.Dropped())
	}
}

// A record reaches the output promptly without Flush or Close: there is
// no flush interval to wait for.
func TestLogWriterWritesPromptly(t *testing.T) {
	var out lockedBuffer
	w := NewLogWriter(&out, 0)
	defer w.Close()
	for i := range 20 {
		rec := fmt.Sprintf("record %d\n", i)
		start := time.Now()
		_, _ = w.Write([]byte(rec))
		for !strings.Contains(out.String(), rec) {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("%q not written after %v", rec, time.Since(start))
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	w.Flush()
	if got := strings.Count(out.String(), "\n"); got != 20 {
		t.Fatalf("%d records after Flush, want 20", got)
	}
}

// gatedWriter blocks every Write until the gate opens.
type gatedWriter struct {
	gate chan struct{}
	out  lockedBuffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.gate
	return g.out.Write(p)
}

// A stalled output never blocks Write: past the buffer, records are
// dropped and counted, the count is exported, and the loss is reported
// through OnDrop once the output moves again.
func TestLogWriterDropsAndCountsWhenStalled(t *testing.T) {
	g := &gatedWriter{gate: make(chan struct{})}
	w := NewLogWriter(g, 1024)
	reported := make(chan uint64, 10)
	w.OnDrop = func(n uint64) { reported <- n }
	m, err := NewMetrics(MetricsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.CountLogDrops(w.Dropped)

	rec := []byte(strings.Repeat("x", 99) + "\n") // 100 bytes
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			_, _ = w.Write(rec)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Write blocked on a stalled output")
	}
	dropped := w.Dropped()
	// The goroutine holds what it took before blocking in the output (0
	// to 10 records), the buffer 10 more.
	if dropped < 100-20 || dropped > 100-10 {
		t.Fatalf("dropped %d of 100 records with a 1 KiB buffer", dropped)
	}
	if got := counterValue(t, m, "agentgateway_log_records_dropped_total"); got != float64(dropped) {
		t.Errorf("agentgateway_log_records_dropped_total = %v, want %d", got, dropped)
	}
	close(g.gate)
	// Drops are reported with the batch after them, possibly in parts.
	for sum := uint64(0); sum != dropped; {
		select {
		case n := <-reported:
			sum += n
			if sum > dropped {
				t.Fatalf("OnDrop reported %d, %d were dropped", sum, dropped)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("OnDrop reported %d of %d drops", sum, dropped)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(g.out.String(), "\n"); uint64(got)+dropped != 100 {
		t.Errorf("%d records written + %d dropped, want 100", got, dropped)
	}
}

func counterValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not exported", name)
	return 0
}

// After Close, records go straight to the output; Close is idempotent.
func TestLogWriterAfterClose(t *testing.T) {
	var out lockedBuffer
	w := NewLogWriter(&out, 0)
	_, _ = w.Write([]byte("before\n"))
	_ = w.Close()
	_ = w.Close()
	_, _ = w.Write([]byte("after\n"))
	if got := out.String(); got != "before\nafter\n" {
		t.Fatalf("output %q", got)
	}
}

// A slog JSON logger on a LogWriter writes the same bytes as on the
// output directly.
func TestLogWriterSlogRecords(t *testing.T) {
	var direct, out lockedBuffer
	w := NewLogWriter(&out, 0)
	for _, dst := range []*slog.Logger{slog.New(slog.NewJSONHandler(&direct, nil)), slog.New(slog.NewJSONHandler(w, nil))} {
		dst.Info("access", "route", "r", "status", 200)
	}
	_ = w.Close()
	strip := func(s string) string { return s[strings.Index(s, `"level"`):] } // the times differ
	if strip(out.String()) != strip(direct.String()) {
		t.Fatalf("via LogWriter %q, direct %q", out.String(), direct.String())
	}
}

// Audit records (through Keep) are never dropped: with the output stalled
// and the buffer full, ordinary records are dropped while every audit
// record is still queued, and past keepFactor times the bound an audit
// writer waits for the output instead of losing its record.
func TestLogWriterKeepsAuditRecords(t *testing.T) {
	g := &gatedWriter{gate: make(chan struct{})}
	w := NewLogWriter(g, 1024)
	normal := slog.New(slog.NewJSONHandler(w, nil))
	audit := slog.New(slog.NewJSONHandler(w.Keep(), nil))
	log := slog.New(SplitAudit(normal.Handler(), audit.Handler()))

	const n = 100
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			log.Info("access", "i", i)
			log.Info("decision", "audit", true, "i", i)
		}
	}()
	// The audit writer blocks once keepFactor KiB are queued: the loop
	// cannot finish while the output is stalled.
	select {
	case <-done:
		t.Fatal("audit records past keepFactor times the buffer did not wait for the output")
	case <-time.After(300 * time.Millisecond):
	}
	if w.Dropped() == 0 {
		t.Fatal("no ordinary record was dropped with a stalled output")
	}
	close(g.gate)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("audit writes never resumed")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(g.out.String(), `"audit":true`); got != n {
		t.Errorf("%d of %d audit records written", got, n)
	}
}

// The split keeps the JSON handler's fast path for per-request records
// (auditlog.LogAttrs): both branches take attributes directly.
func TestSplitAuditFastPath(t *testing.T) {
	var plain, audit lockedBuffer
	h := SplitAudit(newJSONHandler(&plain, nil), newJSONHandler(&audit, nil))
	fh, ok := h.(interface {
		HandleAttrs(slog.Level, string, []slog.Attr) bool
	})
	if !ok {
		t.Fatal("the split handler has no HandleAttrs")
	}
	if !fh.HandleAttrs(slog.LevelInfo, "access", []slog.Attr{slog.Bool("access", true)}) ||
		!fh.HandleAttrs(slog.LevelInfo, "authz allow", []slog.Attr{slog.Bool("audit", true)}) {
		t.Fatal("a record left the fast path")
	}
	if !strings.Contains(plain.String(), `"msg":"access"`) || strings.Contains(plain.String(), "authz") ||
		!strings.Contains(audit.String(), `"msg":"authz allow"`) || strings.Contains(audit.String(), "access") {
		t.Fatalf("records went to the wrong writer:\nplain: %s\naudit: %s", plain.String(), audit.String())
	}
}
