package mcp

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"testing"
	"testing/iotest"
	"time"
)

func TestZZHang(t *testing.T) {
	toks := []string{"data", ":", " ", "\r", "\n", "x", "\xef\xbb\xbf", "id", "\x00", "event", "retry", "\r\n"}
	rng := rand.New(rand.NewSource(1))
	for iter := 0; iter < 200000; iter++ {
		var in []byte
		for n := rng.Intn(30); n > 0; n-- {
			in = append(in, toks[rng.Intn(len(toks))]...)
		}
		mode := uint8(rng.Intn(8))
		done := make(chan struct{})
		go func() {
			defer close(done)
			var r io.Reader = bytes.NewReader(in)
			if mode&1 != 0 {
				r = iotest.OneByteReader(r)
			}
			if mode&2 != 0 {
				r = iotest.HalfReader(r)
			}
			io.ReadAll(RewriteEvents(io.NopCloser(r), 0, func(*Event) bool { return false }))
			for range ParseEvents(bytes.NewReader(in), 0) {
			}
			_, err := io.ReadAll(RewriteEvents(io.NopCloser(bytes.NewReader(in)), 0, func(*Event) bool { return true }))
			_ = errors.Is(err, ErrInvalidEvent)
			io.ReadAll(RewriteEvents(io.NopCloser(bytes.NewReader(in)), 8, func(ev *Event) bool { ev.Drop = mode&4 != 0; return true }))
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatalf("hang on %q mode %d", in, mode)
		}
	}
}
