package mcp

import (
	"io"
	"strings"
	"testing"
)

// waitingReader hands out its pieces one Read at a time and counts the
// waits passed to it.
type waitingReader struct {
	parts []string
	waits int
}

func (r *waitingReader) Read(p []byte) (int, error) {
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	if r.parts[0] == "" {
		r.parts = r.parts[1:]
	}
	return n, nil
}

func (r *waitingReader) WaitData()    { r.waits++ }
func (r *waitingReader) Close() error { return nil }

// TestRewriterWaitData: with nothing pending, the rewriter gives its
// buffer back and passes the wait on; with bytes pending (a second event
// behind the first, or half an event) it keeps them and returns at once,
// and the stream comes out whole.
func TestRewriterWaitData(t *testing.T) {
	src := &waitingReader{parts: []string{"data: 1\n\ndata: 2\n\n", "data: ", "3\n\n"}}
	w := RewriteEvents(src, 1<<10, func(ev *Event) bool { return false }).(*eventRewriter)
	var out strings.Builder
	buf := make([]byte, 64)
	type step struct {
		waits  int
		hasBuf bool
	}
	var steps []step
	for {
		w.WaitData()
		steps = append(steps, step{src.waits, w.br.buf != nil})
		n, err := w.Read(buf)
		out.WriteString(string(buf[:n]))
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, want := out.String(), "data: 1\n\ndata: 2\n\ndata: 3\n\n"; got != want {
		t.Fatalf("stream %q, want %q", got, want)
	}
	// Before the first read: nothing pending, a wait. After event 1:
	// event 2 is buffered, no wait, buffer kept. After event 2: empty, a
	// wait, buffer released. After event 3 (read across two pieces):
	// empty again.
	want := []step{{1, false}, {1, true}, {2, false}, {3, false}}
	for i, s := range want {
		if i >= len(steps) || steps[i] != s {
			t.Fatalf("steps %v, want %v first", steps, want)
		}
	}
}
