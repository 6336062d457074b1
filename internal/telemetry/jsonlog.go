package telemetry

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// jsonHandler writes exactly what slog.JSONHandler writes, faster for the
// records the gateway logs on every request (access and audit): a flat
// list of string, integer, float, bool and duration attributes is encoded
// straight into a pooled buffer, without slog's per-attribute state
// machine. Anything else (groups, WithGroup, values of other kinds, an
// empty key, a time outside RFC 3339) goes to slog.JSONHandler itself,
// on the same writer, so the output never depends on which path ran.
type jsonHandler struct {
	slow  slog.Handler // slog.JSONHandler with the same attributes and groups
	out   *lockedWriter
	level slog.Leveler
	pre   []byte // `,"key":value…` of the WithAttrs attributes
	fast  bool   // no group opened, every WithAttrs attribute encoded in pre
}

// lockedWriter serialises the writes of both paths, as slog.JSONHandler
// does for its own.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newJSONHandler(w io.Writer, opts *slog.HandlerOptions) *jsonHandler {
	out := &lockedWriter{w: w}
	var level slog.Leveler = slog.LevelInfo
	if opts != nil && opts.Level != nil {
		level = opts.Level
	}
	fast := opts == nil || (opts.ReplaceAttr == nil && !opts.AddSource)
	return &jsonHandler{slow: slog.NewJSONHandler(out, opts), out: out, level: level, fast: fast}
}

func (h *jsonHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *jsonHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	h2 := *h
	h2.slow = h.slow.WithAttrs(as)
	if h.fast {
		pre := h.pre[:len(h.pre):len(h.pre)] // never append into h's
		for _, a := range as {
			var ok bool
			if pre, ok = appendJSONAttr(pre, a); !ok {
				h2.fast = false
				break
			}
		}
		h2.pre = pre
	}
	return &h2
}

func (h *jsonHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.slow = h.slow.WithGroup(name)
	h2.fast = false
	return &h2
}

var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (h *jsonHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.fast {
		return h.slow.Handle(ctx, r)
	}
	bp := jsonBufs.Get().(*[]byte)
	b, ok := h.appendHead((*bp)[:0], r.Time, r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b, ok = appendJSONAttr(b, a)
		return ok
	})
	if !ok {
		h.putBuf(bp, b)
		return h.slow.Handle(ctx, r)
	}
	return h.write(bp, b)
}

// HandleAttrs writes the record slog.Logger.LogAttrs(ctx, level, msg,
// attrs...) would have the handler write, without building a
// slog.Record or looking up the caller. It writes nothing and reports
// false when the fast path cannot take the record; the caller then logs
// it the usual way. The caller checks Enabled.
func (h *jsonHandler) HandleAttrs(level slog.Level, msg string, attrs []slog.Attr) bool {
	if !h.fast {
		return false
	}
	bp := jsonBufs.Get().(*[]byte)
	b, ok := h.appendHead((*bp)[:0], time.Now(), level, msg)
	for i := 0; ok && i < len(attrs); i++ {
		b, ok = appendJSONAttr(b, attrs[i])
	}
	if !ok {
		h.putBuf(bp, b)
		return false
	}
	_ = h.write(bp, b)
	return true
}

// appendHead appends `{"time":…,"level":…,"msg":…` and the WithAttrs
// attributes.
func (h *jsonHandler) appendHead(b []byte, t time.Time, level slog.Level, msg string) ([]byte, bool) {
	b = append(b, '{')
	if !t.IsZero() {
		t = t.Round(0)
		if y := t.Year(); y < 0 || y >= 10000 {
			return b, false
		}
		b = append(b, `"time":"`...)
		b = t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"level":`...)
	b = appendJSONString(b, level.String())
	b = append(b, `,"msg":`...)
	b = appendJSONString(b, msg)
	return append(b, h.pre...), true
}

func (h *jsonHandler) write(bp *[]byte, b []byte) error {
	b = append(b, '}', '\n')
	_, err := h.out.Write(b)
	h.putBuf(bp, b)
	return err
}

func (h *jsonHandler) putBuf(bp *[]byte, b []byte) {
	if cap(b) <= 16<<10 {
		*bp = b
		jsonBufs.Put(bp)
	}
}

// appendJSONAttr appends `,"key":value` as slog.JSONHandler writes it, or
// reports false for an attribute the fast path leaves to slog.
func appendJSONAttr(b []byte, a slog.Attr) ([]byte, bool) {
	if a.Key == "" {
		return b, false
	}
	v := a.Value
	b = append(b, ',')
	b = appendJSONString(b, a.Key)
	b = append(b, ':')
	switch v.Kind() {
	case slog.KindString:
		b = appendJSONString(b, v.String())
	case slog.KindInt64:
		b = strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		b = strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		b = strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		b = strconv.AppendInt(b, int64(v.Duration()), 10)
	case slog.KindFloat64:
		f := v.Float64()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, false
		}
		b = appendJSONFloat(b, f)
	default:
		return b, false
	}
	return b, true
}

// appendJSONFloat formats f as encoding/json does (slog.JSONHandler
// calls json.Marshal for floats).
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONString appends s quoted and escaped as slog.JSONHandler does:
// control characters, '"' and '\\' escaped, invalid UTF-8 as \ufffd,
// U+2028 and U+2029 escaped, HTML characters left alone.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
