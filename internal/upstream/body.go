package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

const (
	modeFixed = iota
	modeChunked
	modeClose
)

var errBodyClosed = errors.New("upstream: read on a closed response body")

// body is a response body read straight from the connection's buffered
// reader into the caller's buffer. The connection goes back to the pool
// when the body ends cleanly with nothing unread behind it.
//
// The reader is rd, a copy of a pooled reader (lent) that shares its
// buffer: br points at rd for the body's life, so the chunked decoder
// holding br keeps working while WaitData gives the buffer back to the
// pool for as long as a stream is idle and borrows one again when data
// arrives (a bufio.Reader cannot be given a buffer otherwise).
type body struct {
	cn    *conn
	br    *bufio.Reader // &rd until the body ends, then nil
	rd    bufio.Reader
	lent  *bufio.Reader // the pooled reader whose buffer rd uses; nil while parked
	stop  func() bool
	res   *http.Response
	mode  int
	n     int64 // bytes left (modeFixed)
	cr    io.Reader
	close bool
	limit int
	err   error // sticky: io.EOF after a clean end
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	switch b.mode {
	case modeFixed:
		if int64(len(p)) > b.n {
			p = p[:b.n]
		}
		n, err := b.br.Read(p)
		b.n -= int64(n)
		if b.n == 0 {
			b.end(true)
			return n, io.EOF
		}
		if err == io.EOF {
			// Fewer bytes than Content-Length promised.
			err = fmt.Errorf("upstream: body shorter than its Content-Length: %w", io.ErrUnexpectedEOF)
		}
		if err != nil {
			return n, b.fail(err)
		}
		return n, nil
	case modeChunked:
		n, err := b.cr.Read(p)
		if err == io.EOF {
			var scratch []byte
			t, terr := readTrailer(b.br, b.limit, &scratch)
			if terr != nil {
				return n, b.fail(terr)
			}
			if len(t) > 0 {
				if b.res.Trailer == nil {
					b.res.Trailer = make(http.Header, len(t))
				}
				for k, v := range t {
					b.res.Trailer[k] = v
				}
			}
			b.end(true)
			return n, io.EOF
		}
		if err != nil {
			return n, b.fail(err)
		}
		return n, nil
	default:
		n, err := b.br.Read(p)
		if err == io.EOF {
			b.end(false)
			return n, io.EOF
		}
		if err != nil {
			return n, b.fail(err)
		}
		return n, nil
	}
}

// fail ends the body with err; the connection is closed.
func (b *body) fail(err error) error {
	if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("upstream: connection closed in the body: %w", io.ErrUnexpectedEOF)
	}
	if b.stop != nil {
		// A read woken by the context's deadline: report why.
		if ctx := b.res.Request.Context(); ctx.Err() != nil {
			err = fmt.Errorf("upstream: %w (%v)", context.Cause(ctx), err)
		}
	}
	b.end(false)
	b.err = err
	return err
}

func (b *body) end(clean bool) {
	if b.br == nil {
		return
	}
	reuse := clean && !b.close && b.br.Buffered() == 0
	b.giveBack()
	b.br = nil
	b.err = io.EOF
	if b.cn != nil {
		b.cn.finish(b.stop, reuse)
	}
}

// giveBack returns the borrowed buffer to the pool.
func (b *body) giveBack() {
	if b.lent != nil {
		b.lent.Reset(nil)
		readers.Put(b.lent)
		b.lent = nil
	}
	b.rd = bufio.Reader{}
}

// WaitData blocks until the connection has data to read, has been closed
// by the server, or fails (the request's context ending poisons its
// deadline), without holding a read buffer: an idle stream keeps none
// of its 4 KiB while it waits. It returns at once when the body has
// buffered data or has ended. The caller reads after it returns, as
// before; a failed wait shows up as that read's error.
func (b *body) WaitData() {
	if b.br == nil || b.err != nil || b.cn == nil || b.cn.raw == nil || b.rd.Buffered() > 0 {
		return
	}
	b.giveBack()
	_ = b.cn.raw.Read(readable)
	p := readers.Get().(*bufio.Reader)
	p.Reset(b.cn.nc)
	b.rd = *p
	b.lent = p
}

// Close ends the body; a body not read to its end closes the connection.
func (b *body) Close() error {
	if b.br != nil {
		b.end(false)
	}
	b.err = errBodyClosed
	return nil
}
