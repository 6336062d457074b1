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
type body struct {
	cn    *conn
	br    *bufio.Reader
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
	b.br.Reset(nil)
	readers.Put(b.br)
	b.br = nil
	b.err = io.EOF
	if b.cn != nil {
		b.cn.finish(b.stop, reuse)
	}
}

// Close ends the body; a body not read to its end closes the connection.
func (b *body) Close() error {
	if b.br != nil {
		b.end(false)
	}
	b.err = errBodyClosed
	return nil
}
