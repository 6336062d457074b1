package mcp

import (
	"bytes"
	"errors"
	"io"
	"iter"
	"strings"
	"sync"
)

// ErrEventTooLarge is returned by the readers in this package when one SSE
// event (or an unterminated run of bytes) exceeds the configured limit.
var ErrEventTooLarge = errors.New("mcp: SSE event too large")

// ErrInvalidEvent is returned by WriteEvent when a field other than data
// contains a line break (or the id a NUL): written out, it would split into
// extra fields and let event content forge events of its own.
var ErrInvalidEvent = errors.New("mcp: SSE field contains a line break")

// DefaultMaxEventBytes applies when a caller passes a non-positive limit;
// an unbounded buffer would let a backend exhaust gateway memory.
const DefaultMaxEventBytes = 1 << 20

// Event is one SSE event.
type Event struct {
	ID, Event, Data string
	Retry           string
	HasID, HasRetry bool
	// HasData reports at least one data field. Per the SSE spec a block
	// without data is not dispatched as an event, but its id and retry
	// still take effect, so such blocks are still shown to callbacks.
	HasData bool
	// Drop, set by a RewriteEvents callback, removes the event from the
	// stream.
	Drop bool
}

var bom = []byte("\xef\xbb\xbf")

// blockKind labels what blockReader.next returns.
type blockKind int

const (
	// kindEvent is a complete block: lines up to and including the blank
	// line that ends it.
	kindEvent blockKind = iota
	// kindLF is the LF of a CRLF whose CR ended the previous block. The
	// block was delivered as soon as the CR arrived, because waiting for a
	// possible LF would stall CR-only streams until the next event.
	kindLF
	// kindPartial is the unterminated remainder at EOF.
	kindPartial
)

// blockReader splits an SSE byte stream into blocks without copying them
// out of its buffer and without reading past what it needs to find the end
// of the current block.
type blockReader struct {
	r          io.Reader
	max        int
	buf        []byte
	start, end int // unconsumed bytes are buf[start:end]
	line, pos  int // scan state inside the current block (absolute)
	skipLF     bool
	rerr       error
	empties    int
}

const minRead = 4096

func newBlockReader(r io.Reader, maxEventBytes int) *blockReader {
	if maxEventBytes <= 0 {
		maxEventBytes = DefaultMaxEventBytes
	}
	return &blockReader{r: r, max: maxEventBytes}
}

// blockEnd looks for the blank line that ends the block in b. line is the
// offset of the current line's start and pos where to resume looking for
// terminators. On success it returns the block's end and whether that end is
// a CR at the very end of b; otherwise end is -1 with the state to resume.
func blockEnd(b []byte, line, pos int) (end int, crTail bool, nline, npos int) {
	for pos < len(b) {
		j := bytes.IndexAny(b[pos:], "\r\n")
		if j < 0 {
			return -1, false, line, len(b)
		}
		i := pos + j
		n := 1
		if b[i] == '\r' {
			if i+1 == len(b) {
				if i == line {
					return i + 1, true, 0, 0
				}
				// A CR ending a non-blank line may be half of a CRLF; take
				// it as a terminator only once the next byte is known, or
				// a following LF would look like a blank line.
				return -1, false, line, i
			}
			if b[i+1] == '\n' {
				n = 2
			}
		}
		if i == line {
			return i + n, false, 0, 0
		}
		line = i + n
		pos = line
	}
	return -1, false, line, pos
}

// next returns the next block. The slice aliases the internal buffer and is
// valid until the following call. At the end of input it returns the
// partial block, if any, and then the reader's error (io.EOF at a clean end).
func (br *blockReader) next() ([]byte, blockKind, error) {
	for {
		if br.start < br.end {
			if br.skipLF {
				br.skipLF = false
				if br.buf[br.start] == '\n' {
					br.start++
					br.line, br.pos = br.start, br.start
					return br.buf[br.start-1 : br.start], kindLF, nil
				}
			}
			end, crTail, line, pos := blockEnd(br.buf[:br.end], br.line, br.pos)
			if end >= 0 {
				blk := br.buf[br.start:end]
				if len(blk) > br.max {
					br.rerr = ErrEventTooLarge
					br.start = br.end
					return nil, 0, ErrEventTooLarge
				}
				br.start, br.line, br.pos, br.skipLF = end, end, end, crTail
				return blk, kindEvent, nil
			}
			br.line, br.pos = line, pos
			if br.end-br.start > br.max {
				br.rerr = ErrEventTooLarge
				br.start = br.end
				return nil, 0, ErrEventTooLarge
			}
		}
		if br.rerr != nil {
			// Only a clean end makes the tail meaningful; after a failed
			// read it is a fragment that would be misread as complete.
			if br.rerr == io.EOF && br.start < br.end {
				blk := br.buf[br.start:br.end]
				br.start = br.end
				return blk, kindPartial, nil
			}
			return nil, 0, br.rerr
		}
		br.fill()
	}
}

// fill performs one Read. It is only called when every byte handed out by
// next has been consumed, so it may move buffered data.
func (br *blockReader) fill() {
	if br.start == br.end {
		br.start, br.end, br.line, br.pos = 0, 0, 0, 0
	} else if br.start > 0 && cap(br.buf)-br.end < minRead {
		n := copy(br.buf[:cap(br.buf)], br.buf[br.start:br.end])
		br.line -= br.start
		br.pos -= br.start
		br.start, br.end = 0, n
	}
	if br.buf == nil {
		br.buf = blockBuffers.Get().(*[minRead]byte)[:0]
	}
	if cap(br.buf)-br.end < minRead {
		nb := make([]byte, br.end, max(2*cap(br.buf), br.end+minRead))
		copy(nb, br.buf[:br.end])
		br.buf = nb
	}
	n, err := br.r.Read(br.buf[br.end:cap(br.buf)])
	br.buf = br.buf[:cap(br.buf)]
	br.end += n
	if err != nil {
		br.rerr = err
	} else if n == 0 {
		br.empties++
		if br.empties >= 100 {
			br.rerr = io.ErrNoProgress
		}
	} else {
		br.empties = 0
	}
}

// blockBuffers recycles the blockReaders' first buffers, which an idle
// stream gives back (release).
var blockBuffers = sync.Pool{New: func() any { return new([minRead]byte) }}

// release gives the buffer back while it holds nothing, so that an idle
// stream keeps no buffer; the next fill takes one again. A buffer grown
// for a large event is left to the garbage collector.
func (br *blockReader) release() {
	if br.start != br.end || br.buf == nil {
		return
	}
	if cap(br.buf) == minRead {
		blockBuffers.Put((*[minRead]byte)(br.buf[:minRead]))
	}
	br.buf = nil
	br.start, br.end, br.line, br.pos = 0, 0, 0, 0
}

// parseBlock parses the lines of one block into ev per the WHATWG SSE
// rules and reports whether the block had any field line, as opposed to
// only comments and the blank line.
func parseBlock(b []byte, ev *Event) bool {
	fields := false
	var data []byte
	for len(b) > 0 {
		var line []byte
		j := bytes.IndexAny(b, "\r\n")
		if j < 0 {
			line, b = b, nil
		} else {
			line = b[:j]
			if b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n' {
				j++
			}
			b = b[j+1:]
		}
		if len(line) == 0 || line[0] == ':' {
			continue
		}
		fields = true
		name, value := line, []byte(nil)
		if k := bytes.IndexByte(line, ':'); k >= 0 {
			name, value = line[:k], line[k+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(name) {
		case "event":
			ev.Event = string(value)
		case "data":
			if ev.HasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			ev.HasData = true
		case "id":
			// The spec ignores ids containing NUL.
			if bytes.IndexByte(value, 0) < 0 {
				ev.ID, ev.HasID = string(value), true
			}
		case "retry":
			ev.Retry, ev.HasRetry = string(value), true
		}
	}
	ev.Data = string(data)
	return fields
}

// appendEvent serialises ev, or nothing when it has no fields at all.
func appendEvent(dst []byte, ev *Event) ([]byte, error) {
	if strings.ContainsAny(ev.ID, "\r\n\x00") || strings.ContainsAny(ev.Event, "\r\n") ||
		strings.ContainsAny(ev.Retry, "\r\n") {
		return dst, ErrInvalidEvent
	}
	start := len(dst)
	if ev.HasID || ev.ID != "" {
		dst = appendField(dst, "id", ev.ID)
	}
	if ev.Event != "" {
		dst = appendField(dst, "event", ev.Event)
	}
	if ev.HasRetry || ev.Retry != "" {
		dst = appendField(dst, "retry", ev.Retry)
	}
	if ev.HasData || ev.Data != "" {
		// Split on every SSE line terminator, not just LF: a bare CR in a
		// data line would end the line early on the client.
		data := ev.Data
		for {
			i := strings.IndexAny(data, "\r\n")
			if i < 0 {
				dst = appendField(dst, "data", data)
				break
			}
			dst = appendField(dst, "data", data[:i])
			if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			data = data[i+1:]
		}
	}
	if len(dst) == start {
		return dst, nil
	}
	return append(dst, '\n'), nil
}

func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':')
	if value != "" {
		dst = append(dst, ' ')
		dst = append(dst, value...)
	}
	return append(dst, '\n')
}

// WriteEvent writes ev as one SSE event with LF line endings. Multi-line
// data becomes one data field per line. It writes nothing for an event
// without fields.
func WriteEvent(w io.Writer, ev *Event) error {
	b, err := appendEvent(nil, ev)
	if err != nil || len(b) == 0 {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ParseEvents iterates over the blocks of an SSE stream that contain at
// least one field (comment-only blocks are skipped; see Event.HasData for
// blocks without data). An unterminated block at EOF is discarded, as the
// spec requires. A read error, or ErrEventTooLarge, is yielded once and ends
// the iteration; a clean EOF just ends it.
func ParseEvents(r io.Reader, maxEventBytes int) iter.Seq2[*Event, error] {
	return func(yield func(*Event, error) bool) {
		br := newBlockReader(r, maxEventBytes)
		first := true
		for {
			blk, kind, err := br.next()
			if err != nil {
				if err != io.EOF {
					yield(nil, err)
				}
				return
			}
			if kind != kindEvent {
				continue
			}
			if first {
				blk = bytes.TrimPrefix(blk, bom)
				first = false
			}
			ev := new(Event)
			if parseBlock(blk, ev) && !yield(ev, nil) {
				return
			}
		}
	}
}

// RewriteEvents streams the SSE stream r through fn, one event at a time.
//
// fn sees every block that has at least one field. If it returns false the
// event's original bytes are emitted unchanged; if it returns true the event
// is re-serialised from ev (comments and unknown fields are dropped); if it
// sets ev.Drop nothing is emitted. Comment-only blocks (keepalives) and an
// unterminated tail at EOF pass through untouched. ev must not be retained.
//
// Each Read returns at most one event's bytes and returns as soon as an
// event is complete, so a flushing proxy delivers events as they arrive.
// An event longer than maxEventBytes (DefaultMaxEventBytes if <= 0) fails
// the stream with ErrEventTooLarge. A nil fn passes every event through.
// Close closes r.
func RewriteEvents(r io.ReadCloser, maxEventBytes int, fn func(*Event) bool) io.ReadCloser {
	return &eventRewriter{rc: r, br: newBlockReader(r, maxEventBytes), fn: fn, first: true}
}

type eventRewriter struct {
	rc    io.ReadCloser
	br    *blockReader
	fn    func(*Event) bool
	out   []byte // pending output; aliases br's buffer or wbuf
	wbuf  []byte
	err   error
	first bool
	// lastRaw reports whether the previous event went out unchanged, which
	// decides whether the second half of its split CRLF goes out too.
	lastRaw bool
}

func (w *eventRewriter) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(w.out) == 0 {
		if w.err != nil {
			return 0, w.err
		}
		blk, kind, err := w.br.next()
		if err != nil {
			w.err = err
			continue
		}
		switch kind {
		case kindLF:
			if w.lastRaw {
				w.out = blk
			}
		case kindPartial:
			w.out = blk
		case kindEvent:
			w.out, w.lastRaw, w.err = w.process(blk)
		}
	}
	n := copy(p, w.out)
	w.out = w.out[n:]
	return n, nil
}

func (w *eventRewriter) process(blk []byte) (out []byte, raw bool, err error) {
	parse := blk
	if w.first {
		w.first = false
		parse = bytes.TrimPrefix(blk, bom)
	}
	ev := new(Event)
	if !parseBlock(parse, ev) || w.fn == nil {
		return blk, true, nil
	}
	changed := w.fn(ev)
	if ev.Drop {
		return nil, false, nil
	}
	if !changed {
		return blk, true, nil
	}
	w.wbuf, err = appendEvent(w.wbuf[:0], ev)
	if err != nil {
		return nil, false, err
	}
	return w.wbuf, false, nil
}

func (w *eventRewriter) Close() error { return w.rc.Close() }

// WaitData waits until a Read can make progress, without holding a
// buffer while the stream is idle: with nothing pending, the rewriter's
// buffers are released and the wait is passed to the body it reads if
// that body can wait (the gateway's upstream body); otherwise it returns
// at once. A proxy's copy loop calls it before taking its own buffer.
func (w *eventRewriter) WaitData() {
	if len(w.out) > 0 || w.err != nil || w.br.rerr != nil || w.br.start != w.br.end {
		return
	}
	w.br.release()
	w.out, w.wbuf = nil, nil
	if dw, ok := w.rc.(interface{ WaitData() }); ok {
		dw.WaitData()
	}
}
