// Package upstream is the gateway's own HTTP/1.1 client for plain-HTTP
// backends: pooled connections with no goroutine per connection, the
// request head written straight from the inbound request's header map,
// and the response read in the caller's goroutine. Everything it does not
// handle (TLS, HTTP/2, upgrades, proxies, request trailers, bodies of
// unknown length on the gateway's path) stays with net/http's Transport.
//
// Its risks, and where they are handled:
//   - a pooled connection the server closed while idle: probed before
//     reuse (probe_unix.go), idle connections expire before common
//     backend keep-alive timeouts (DefaultIdleTimeout), and a request
//     that failed on a reused connection before any response byte is
//     retried only under net/http's rules (Do);
//   - response-header timeout, per-host connection cap, response head
//     size limit (Client fields);
//   - header validation: request names and values are checked before
//     they are written (no CR/LF); responses with both Transfer-Encoding
//     and Content-Length, differing Content-Lengths, unknown transfer
//     codings, folded lines or invalid bytes are refused (response.go);
//   - trailers, 1xx, 204/304, HEAD, Connection: close, close-delimited
//     bodies, and a Content-Length the body does not match (body.go).
package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"syscall"
	"time"
)

// Defaults of the Client's limits.
const (
	DefaultDialTimeout = 5 * time.Second
	// DefaultIdleTimeout is below the 5 s keep-alive timeout of Node.js
	// and uvicorn, so the client, not the server, ends idle connections
	// to them; for other servers the probe before reuse finds closed
	// ones.
	DefaultIdleTimeout            = 4 * time.Second
	DefaultMaxIdlePerHost         = 256
	DefaultMaxConnsPerHost        = 16384
	DefaultMaxResponseHeaderBytes = 1 << 20
)

// max1xx bounds the informational responses before the final one.
const max1xx = 8

// Client sends HTTP/1.1 requests to http:// URLs. The zero value uses the
// defaults above. A Client is safe for concurrent use.
type Client struct {
	DialTimeout time.Duration
	// IdleTimeout closes a pooled connection unused for this long.
	IdleTimeout time.Duration
	// MaxIdlePerHost bounds the pooled idle connections per host.
	MaxIdlePerHost int
	// MaxConnsPerHost bounds the open connections per host; a request
	// over the cap waits for one to close (or its context to end).
	MaxConnsPerHost int
	// MaxResponseHeaderBytes bounds a response head, and a chunked
	// body's trailer section.
	MaxResponseHeaderBytes int
	// ResponseHeaderTimeout, if set, bounds the wait for the response
	// head after the request was written.
	ResponseHeaderTimeout time.Duration
	// DialContext, if set, opens connections instead of a net.Dialer
	// with DialTimeout (tests and benchmarks: in-memory backends). A
	// connection that is not a syscall.Conn is not probed before reuse,
	// and a stream on it waits for data holding its read buffer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	once   sync.Once
	dialer net.Dialer
	mu     sync.Mutex
	hosts  map[string]*hostPool
}

// Field is a header field the proxy adds.
type Field struct{ Name, Value string }

// Forwarding describes how a forwarded request's head differs from the
// inbound request whose header map it is written from, so the map is
// never cloned: names in Omit and in Set are left out of it (as are the
// hop-by-hop fields, always), and Set is written after it. Names are in
// canonical form.
type Forwarding struct {
	Omit []string
	Set  []Field
	// Inform, if set, receives the informational responses (1xx other
	// than 101) that precede the final one.
	Inform Informer
}

// Informer receives a request's informational responses (103 Early
// Hints, 102 Processing, 100 Continue), in order, each with its own
// header map. An error ends the exchange with that error.
//
// Without one (no Forwarding, or a nil Inform), the request context's
// httptrace.ClientTrace.Got1xxResponse is called instead, as net/http's
// Transport does; without either, they are skipped. Either way at most
// max1xx are accepted, each head within MaxResponseHeaderBytes.
type Informer interface {
	Got1xx(code int, header http.Header) error
}

func (c *Client) init() {
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxIdlePerHost <= 0 {
		c.MaxIdlePerHost = DefaultMaxIdlePerHost
	}
	if c.MaxConnsPerHost <= 0 {
		c.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	if c.MaxResponseHeaderBytes <= 0 {
		c.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	c.dialer = net.Dialer{Timeout: c.DialTimeout, KeepAlive: 30 * time.Second}
	c.hosts = map[string]*hostPool{}
}

// RoundTrip implements http.RoundTripper for a plain request.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) { return c.Do(req, nil) }

// Do sends req, its head rewritten by f (nil: as it is). The response's
// body must be read to its end or closed; only then is the connection
// reused.
func (c *Client) Do(req *http.Request, f *Forwarding) (*http.Response, error) {
	c.once.Do(c.init)
	if req.URL == nil || req.URL.Scheme != "http" || req.URL.Host == "" {
		return nil, errors.New("upstream: only http:// URLs with a host")
	}
	ctx := req.Context()
	p := c.pool(req.URL.Host)
	for try := 0; ; try++ {
		cn, reused, err := p.get(ctx)
		if err != nil {
			closeBody(req)
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, err
		}
		res, err := cn.roundTrip(ctx, req, f)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			closeBody(req)
			return nil, context.Cause(ctx)
		}
		var rt *retryable
		if errors.As(err, &rt) && reused && try < 2 && rewind(req, rt) {
			continue
		}
		closeBody(req)
		if errors.As(err, &rt) {
			return nil, rt.err
		}
		return nil, err
	}
}

// rewind prepares req for a retry on another connection, following
// net/http's Transport: a request that was not written at all may be
// sent again if its body can be; one that was written, only if it is
// also idempotent, since the server may have acted on it.
func rewind(req *http.Request, rt *retryable) bool {
	hasBody := req.Body != nil && req.Body != http.NoBody && req.ContentLength != 0
	if hasBody && req.GetBody == nil {
		return false
	}
	if !rt.nothingWritten && !idempotent(req) {
		return false
	}
	if hasBody {
		b, err := req.GetBody()
		if err != nil {
			return false
		}
		req.Body = b
	}
	return true
}

func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := req.Header["Idempotency-Key"]
	_, b := req.Header["X-Idempotency-Key"]
	return a || b
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// retryable is a failure on a connection before any response byte
// arrived: the connection may have been closed by the server while idle.
type retryable struct {
	err            error
	nothingWritten bool
}

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }

// CloseIdleConnections closes every pooled idle connection.
func (c *Client) CloseIdleConnections() {
	c.once.Do(c.init)
	c.mu.Lock()
	pools := make([]*hostPool, 0, len(c.hosts))
	for _, p := range c.hosts {
		pools = append(pools, p)
	}
	c.mu.Unlock()
	for _, p := range pools {
		p.closeIdle(time.Time{})
	}
}

func (c *Client) pool(addr string) *hostPool {
	c.mu.Lock()
	p := c.hosts[addr]
	if p == nil {
		p = &hostPool{c: c, addr: addr, sem: make(chan struct{}, c.MaxConnsPerHost), avail: make(chan struct{}, 1)}
		c.hosts[addr] = p
	}
	c.mu.Unlock()
	return p
}

// hostPool is the connections to one host:port. Idle connections sit in
// a stack (newest last) with no goroutine or timer each; one timer per
// host sweeps expired ones while any are idle.
type hostPool struct {
	c    *Client
	addr string
	// sem holds a token per open connection: the per-host cap.
	sem chan struct{}

	// avail is signalled when a connection goes idle, for requests
	// waiting at the cap (buffered: a signal sent before the waiter
	// blocks is not lost).
	avail chan struct{}

	mu       sync.Mutex
	idle     []*conn
	sweeping bool
}

func (p *hostPool) get(ctx context.Context) (*conn, bool, error) {
	for {
		if cn := p.getIdle(); cn != nil {
			return cn, true, nil
		}
		select {
		case p.sem <- struct{}{}:
		default:
			// At the cap: wait for a connection to close or go idle.
			select {
			case p.sem <- struct{}{}:
			case <-p.avail:
				continue
			case <-ctx.Done():
				return nil, false, context.Cause(ctx)
			}
		}
		break
	}
	dial := p.c.dialer.DialContext
	if p.c.DialContext != nil {
		dial = p.c.DialContext
	}
	nc, err := dial(ctx, "tcp", p.addr)
	if err != nil {
		<-p.sem
		return nil, false, err
	}
	cn := &conn{nc: nc, pool: p}
	cn.cw.w = nc
	if sc, ok := nc.(syscall.Conn); ok {
		cn.raw, _ = sc.SyscallConn()
	}
	cn.probeFn = cn.probeRead
	cn.poisonFn = cn.poison
	return cn, false, nil
}

// getIdle pops the newest idle connection that is still usable.
func (p *hostPool) getIdle() *conn {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		cn := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		more := n > 1
		p.mu.Unlock()
		if more {
			p.signal()
		}
		if time.Since(cn.idleAt) < p.c.IdleTimeout && cn.alive() {
			return cn
		}
		cn.close()
	}
}

func (p *hostPool) signal() {
	select {
	case p.avail <- struct{}{}:
	default:
	}
}

// put pools a connection whose response was read to its end.
func (p *hostPool) put(cn *conn) {
	p.mu.Lock()
	if len(p.idle) >= p.c.MaxIdlePerHost {
		p.mu.Unlock()
		cn.close()
		return
	}
	cn.idleAt = time.Now()
	p.idle = append(p.idle, cn)
	arm := !p.sweeping
	p.sweeping = true
	p.mu.Unlock()
	p.signal()
	if arm {
		time.AfterFunc(p.c.IdleTimeout, p.sweep)
	}
}

func (p *hostPool) sweep() {
	p.closeIdle(time.Now().Add(-p.c.IdleTimeout))
	p.mu.Lock()
	again := len(p.idle) > 0
	p.sweeping = again
	p.mu.Unlock()
	if again {
		time.AfterFunc(p.c.IdleTimeout, p.sweep)
	}
}

// closeIdle closes idle connections that went idle before cutoff (all
// of them for a zero cutoff).
func (p *hostPool) closeIdle(cutoff time.Time) {
	p.mu.Lock()
	i := 0
	for i < len(p.idle) && (cutoff.IsZero() || p.idle[i].idleAt.Before(cutoff)) {
		i++
	}
	expired := append([]*conn(nil), p.idle[:i]...)
	p.idle = append(p.idle[:0], p.idle[i:]...)
	p.mu.Unlock()
	for _, cn := range expired {
		cn.close()
	}
}

// conn is one connection. While a request is in flight it belongs to
// that request alone.
type conn struct {
	nc     net.Conn
	pool   *hostPool
	raw    syscall.RawConn
	cw     countingWriter
	idleAt time.Time

	probeFn   func(fd uintptr) bool
	probeLive bool
	// poisonFn is poison, made once per connection rather than once per
	// request.
	poisonFn func()

	closed bool
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (cn *conn) close() {
	if cn.closed {
		return
	}
	cn.closed = true
	_ = cn.nc.Close()
	<-cn.pool.sem
}

var (
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	// past is a deadline that has passed: it wakes a blocked read or
	// write when the request's context ends.
	past = time.Unix(1, 0)
)

// roundTrip writes req and reads the response head. Its errors are
// *retryable when no response byte arrived.
func (cn *conn) roundTrip(ctx context.Context, req *http.Request, f *Forwarding) (*http.Response, error) {
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, cn.poisonFn)
	}
	fail := func(err error) (*http.Response, error) {
		if stop != nil {
			stop()
		}
		cn.close()
		return nil, err
	}
	bw := writers.Get().(*bufio.Writer)
	cn.cw.n = 0
	bw.Reset(&cn.cw)
	err := writeRequest(bw, req, f)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writers.Put(bw)
	if err != nil {
		var he *headError
		if errors.As(err, &he) {
			// Nothing was sent: the request itself is bad.
			return fail(err)
		}
		return fail(&retryable{err: fmt.Errorf("upstream: writing the request: %w", err), nothingWritten: cn.cw.n == 0})
	}
	if req.Body != nil {
		_ = req.Body.Close()
	}
	if t := cn.pool.c.ResponseHeaderTimeout; t > 0 {
		_ = cn.nc.SetReadDeadline(time.Now().Add(t))
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(cn.nc)
	release := func() { br.Reset(nil); readers.Put(br) }
	if _, err := br.Peek(1); err != nil {
		release()
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("upstream: server closed the connection before a response: %w", io.EOF)
		} else {
			err = fmt.Errorf("upstream: reading the response: %w", err)
		}
		return fail(&retryable{err: err})
	}
	res, h, err := readResponse(br, req, cn.pool.c.MaxResponseHeaderBytes, informer(req, f))
	if err != nil {
		release()
		return fail(err)
	}
	if cn.pool.c.ResponseHeaderTimeout > 0 {
		_ = cn.nc.SetReadDeadline(time.Time{})
		if ctx.Err() != nil {
			// The context ended while the deadline was cleared.
			_ = cn.nc.SetDeadline(past)
		}
	}
	if b, ok := res.Body.(*body); ok {
		b.cn, b.stop = cn, stop
		return res, nil
	}
	reuse := !h.close && br.Buffered() == 0
	release()
	cn.finish(stop, reuse)
	return res, nil
}

// poison wakes a read or write blocked on cn: the request's context
// ended.
func (cn *conn) poison() { _ = cn.nc.SetDeadline(past) }

// finish ends a request on cn: back to the pool, or closed.
func (cn *conn) finish(stop func() bool, reuse bool) {
	if stop != nil && !stop() {
		// The context's deadline poisoning has run or is running.
		reuse = false
	}
	if reuse {
		cn.pool.put(cn)
		return
	}
	cn.close()
}

// alive reports whether a pooled connection can be reused: the server has
// neither closed it nor sent anything on it.
func (cn *conn) alive() bool {
	if cn.raw == nil {
		return true
	}
	cn.probeLive = false
	if err := cn.raw.Read(cn.probeFn); err != nil {
		return false
	}
	return cn.probeLive
}

// informer is where req's informational responses go (Informer).
func informer(req *http.Request, f *Forwarding) Informer {
	if f != nil && f.Inform != nil {
		return f.Inform
	}
	// A one-pointer struct: no allocation in the interface.
	return traceInformer{req}
}

// traceInformer calls the request context's Got1xxResponse, looked up
// only when a 1xx arrives.
type traceInformer struct{ req *http.Request }

func (t traceInformer) Got1xx(code int, h http.Header) error {
	if tr := httptrace.ContextClientTrace(t.req.Context()); tr != nil && tr.Got1xxResponse != nil {
		return tr.Got1xxResponse(code, textproto.MIMEHeader(h))
	}
	return nil
}
