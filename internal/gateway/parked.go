package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// Parked streams: an HTTP/1.1 response stream served without its handler
// goroutine (issue 20: ≤ 16 KiB and ≤ 2 goroutines per idle stream).
//
// Once a stream's response head is out, the proxy hijacks the client
// connection, which ends net/http's hold on it (its 4 KiB read and write
// buffers, the 2 KiB chunking buffer and the background read goroutine),
// and lets the handler return: the handler goroutine's stack (16 KiB,
// the ~45 frames of the chain under the stream) goes with it. One small
// goroutine carries the stream on: it waits for upstream data with
// WaitData (holding no buffer while idle), moves one read, writing the
// chunked framing itself, and leaves the next wait to a new goroutine,
// so the waiting stack stays at 2 KiB (step). The client's close is
// watched without a buffer: on Linux by the gateway's one epoll
// goroutine for all parked streams (clientWatcher, watch_linux.go),
// elsewhere by a goroutine per stream parked on the socket (RawConn.Read
// with a non-blocking MSG_PEEK).
//
// Everything the chain does when an exchange ends waits for the stream's
// end (policy.Exchange.Finally): stream slots, sessions, contexts and
// timers, counters; then the edge's own end (access log, metrics, the
// server span, the runtime pin). The idle timeout, the request timeout
// and the drain end a parked stream as before: they cancel the
// exchange's context, which cuts the upstream wait, and the copy ends
// cleanly (guardedBody). A client that closes cancels the same context.
//
// Not parked, and served on the handler goroutine as before: HTTP/2
// (cannot be hijacked), TLS client connections (a peek on the socket
// would see ciphertext, and the TLS state belongs to crypto/tls), methods
// other than GET (a POST's response stream is short-lived and its
// request body belongs to net/http), responses with trailers, and
// platforms without MSG_PEEK.

// parking is the edge's offer to park the exchange's stream: set for
// eligible requests (parkable), taken by the proxy (park).
type parking struct {
	g *Gateway
	// exch is the exchange, whose context is detached from the
	// request's (which net/http cancels when the handler returns);
	// unwatch stops forwarding the request context's end to it (bind).
	exch    *policy.Exchange
	unwatch func() bool

	// Set by park.
	rw         *responseWriter
	conn       net.Conn
	raw        syscall.RawConn
	watchKey   int32 // the clientWatcher's key, 0 when not watched there
	res        *http.Response
	body       io.ReadCloser
	dw         dataWaiter
	clientGone atomic.Bool
	// clientSent: the client sent bytes while parked, which nobody
	// reads; closing at once would reset the connection (and could cut
	// the last chunk on the client's side), so the close lingers.
	clientSent atomic.Bool

	// srv served the connection before the hijack: a clean end hands
	// the connection back to it (end).
	srv *http.Server

	// Set by start.
	ex     *policy.Exchange
	finish func(err error)
}

// errClientGone is the cause a parked stream's context ends with when
// its client closes the connection.
var errClientGone = errors.New("client closed the connection")

// parkable reports whether r's response stream may be parked.
func parkable(r *http.Request) bool {
	// HTTP/1.0 responses are not chunked: net/http streams them raw
	// and closes.
	return parkSupported && r.ProtoMajor == 1 && r.ProtoMinor >= 1 && r.TLS == nil && r.Method == http.MethodGet
}

// chunkedResponse reports whether net/http sent the response head of
// status with header h as a chunked body (its chunkWriter's rule for an
// HTTP/1.1 GET): the framing park continues.
func chunkedResponse(status int, h http.Header) bool {
	if status < 200 || status == http.StatusNoContent || status == http.StatusNotModified {
		return false
	}
	_, cl := h["Content-Length"]
	_, te := h["Transfer-Encoding"]
	return !cl && !te
}

// detach gives the exchange a root context that survives the handler's
// return (net/http cancels the request's context then): the request's
// values without its cancellation. bind, once the exchange's context
// exists, forwards the request context's end to the exchange until the
// stream parks; after that the exchange ends when the client closes or
// the stream ends. (One context fewer per stream than a cancelable root
// of its own, which the exchange's context would hang under.)
func (p *parking) detach(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

// bind starts forwarding the end of r's context to ex, whose context
// serve has bound.
func (p *parking) bind(r *http.Request, ex *policy.Exchange) {
	p.exch = ex
	rctx := r.Context()
	p.unwatch = context.AfterFunc(rctx, func() { ex.Cancel(context.Cause(rctx)) })
}

// cancel ends the exchange's context with cause.
func (p *parking) cancel(cause error) {
	if p.exch != nil {
		p.exch.Cancel(cause)
	}
}

// release stops the forwarding for an exchange that was not parked (its
// context ends with ex.End).
func (p *parking) release() {
	if p.unwatch != nil {
		p.unwatch()
	}
}

// park hijacks the client connection and takes the stream over: body is
// the response body, whose head went out (flushed, chunked). It reports
// false, with nothing changed, when the connection cannot be taken: the
// caller streams as before. When the client had pipelined bytes behind
// the request (net/http's read buffer holds them), the stream is served
// here, on the hijacked connection, and the connection is handed back to
// the server afterwards, so the pipelined request is served too.
func (p *parking) park(w http.ResponseWriter, in *http.Request, res *http.Response, ex *policy.Exchange) bool {
	body := res.Body
	rw, ok := w.(*responseWriter)
	dw, ok2 := body.(dataWaiter)
	if !ok || !ok2 || rw.writeErr != nil || !chunkedResponse(rw.status, rw.Header()) {
		return false
	}
	srv, _ := in.Context().Value(http.ServerContextKey).(*http.Server)
	// Counted before the hijack: from then on the server's Shutdown no
	// longer sees the connection, and the drain waits for this count.
	parked := &p.g.deps.drain.parked
	parked.Add(1)
	conn, brw, err := http.NewResponseController(rw.ResponseWriter).Hijack()
	if err != nil {
		parked.Add(-1)
		return false
	}
	p.rw, p.conn, p.res, p.body, p.dw, p.srv = rw, conn, res, body, dw, srv
	// The response head went out: its header map (about 1 KiB with the
	// backend's fields) need not live as long as the stream. Reading a
	// nil map is safe for anything that still looks.
	res.Header = nil
	if sc, ok := conn.(syscall.Conn); ok {
		p.raw, _ = sc.SyscallConn()
	}
	// net/http's response is done with: drop every reference to it so
	// that its buffers and its connection state are freed.
	rw.ResponseWriter, rw.rc = parkedResponse{}, nil
	if n := brw.Reader.Buffered(); n > 0 {
		// Pipelined bytes: serve the stream in place, then give the
		// connection back to the server with them.
		pending, _ := brw.Reader.Peek(n)
		pending = append([]byte(nil), pending...)
		defer parked.Add(-1)
		p.watchClient()
		err := p.copy()
		_ = body.Close()
		p.g.deps.drain.watch.remove(p)
		if err != nil {
			_ = conn.Close()
			if p.rw.writeErr != nil {
				p.clientGone.Store(true)
			}
			ex.StreamEnd = nil
			panicAbort(p)
			return true
		}
		if srv == nil || !reserve(srv, &pendingConn{Conn: conn, pending: pending}) {
			_ = conn.Close()
		}
		return true
	}
	// The response hooks ran: what they hold (request copies among it)
	// need not live as long as the stream.
	ex.ResponseHooks = nil
	if p.unwatch != nil && !p.unwatch() {
		// The request's context already ended (the client went away):
		// the parked stream's context has its cause and ends at once.
		p.clientGone.Store(true)
	}
	ex.Park()
	return true
}

// panicAbort ends an in-place stream that broke as the proxy does:
// http.ErrAbortHandler, which the edge records (client gone or backend
// broke) before net/http sees it.
func panicAbort(*parking) { panic(http.ErrAbortHandler) }

// start runs the parked stream: finish is the edge's end of the
// exchange, run once the stream and the chain's deferred work are done.
func (p *parking) start(ex *policy.Exchange, finish func(err error)) {
	p.ex, p.finish = ex, finish
	p.watchClient()
	go p.step()
}

// step waits for the stream's next data, moves it, and leaves the next
// wait to a new goroutine: a read through the event filter and a write
// grow a goroutine's stack past 2 KiB, and the GC shrinks a stack only
// when less than a quarter of it is in use, so a goroutine that went on
// waiting would keep 4 KiB or more; a new one waits on 2 KiB. One
// goroutine start per read is cheap next to the read and the write.
func (p *parking) step() {
	p.dw.WaitData()
	cw := chunkWriter{p: p}
	done, err := copyStep(&cw, p.body, noFlush)
	if !done {
		go p.step()
		return
	}
	if err == nil {
		err = p.lastChunk()
	}
	p.end(err)
}

// end finishes a parked stream, once. After a clean end (the last chunk
// went out) the connection goes back to the server, as after any
// response net/http finishes: the client's transport has pooled it when
// it read the last chunk, and may send its next request on it at once,
// so closing it here would fail that request (a POST is not retried).
// The server answers the next request, or closes the connection if it is
// shutting down. A broken stream closes the connection without the last
// chunk, so the client learns the response broke. Then the chain's
// deferred work and the edge's end.
func (p *parking) end(err error) {
	defer p.g.deps.drain.parked.Add(-1)
	_ = p.body.Close()
	p.g.deps.drain.watch.remove(p)
	// Not while draining: a connection handed back is new to the
	// server, and Shutdown waits up to 5 s for a new connection's first
	// request before it counts it idle (a stream the drain ended would
	// hold the drain that long; TestResilienceSIGTERMDrain).
	draining := p.g.deps.drain.streams.Err() != nil
	if err != nil || draining || p.clientGone.Load() || p.srv == nil || !reserve(p.srv, p.conn) {
		p.close()
	}
	p.ex.RunFinally()
	if err != nil {
		err = errStreamBroken
	}
	p.finish(err)
	p.cancel(nil)
}

// close closes the client connection. With unread bytes from the client
// it first ends the writing side and closes a little later, as net/http
// does (closeWriteAndWait), so that the client reads the end of the
// response before the reset its unread bytes cause; a timer, not a
// sleeping goroutine.
func (p *parking) close() {
	unread := p.clientSent.Load()
	if !unread && p.raw != nil {
		// Sent after the watch's last look.
		_ = p.raw.Control(func(fd uintptr) { unread = peekClient(fd) == peekData })
	}
	if cw, ok := p.conn.(interface{ CloseWrite() error }); ok && unread {
		_ = cw.CloseWrite()
		time.AfterFunc(rstAvoidanceDelay, func() { _ = p.conn.Close() })
		return
	}
	_ = p.conn.Close()
}

// rstAvoidanceDelay is net/http's.
const rstAvoidanceDelay = 500 * time.Millisecond

// errStreamBroken tells the edge that a parked stream's copy failed
// (the edge tells a client that went away from a backend that broke).
var errStreamBroken = errors.New("parked stream broken")

// copy streams the body to the client connection in HTTP/1.1 chunks,
// one write per read (SSE stays flushed event by event), and on a clean
// end writes the last chunk. It serves a stream in place (park).
func (p *parking) copy() error {
	cw := chunkWriter{p: p}
	if err := copyStream(&cw, p.body, p.dw, noFlush); err != nil {
		return err
	}
	return p.lastChunk()
}

// lastChunk writes the end of the chunked body.
func (p *parking) lastChunk() error {
	cw := chunkWriter{p: p}
	// The last chunk, with the backend's trailers (announced or not:
	// net/http forwarded both).
	end := []byte("0\r\n")
	for k, vv := range p.res.Trailer {
		for _, v := range vv {
			end = append(append(append(append(end, k...), ": "...), v...), "\r\n"...)
		}
	}
	return cw.write(append(end, "\r\n"...))
}

func noFlush() error { return nil }

// chunkWriter writes HTTP/1.1 chunks to a parked stream's connection,
// each bounded by the server's write timeout, and counts the body bytes
// for the access log.
type chunkWriter struct{ p *parking }

func (c *chunkWriter) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var head [20]byte
	h := strconv.AppendInt(head[:0], int64(len(b)), 16)
	h = append(h, '\r', '\n')
	bufs := net.Buffers{h, b, crlf}
	if err := c.writeBuffers(&bufs); err != nil {
		return 0, err
	}
	c.p.rw.bytes += int64(len(b))
	return len(b), nil
}

var crlf = []byte("\r\n")

func (c *chunkWriter) write(b []byte) error {
	bufs := net.Buffers{b}
	return c.writeBuffers(&bufs)
}

func (c *chunkWriter) writeBuffers(bufs *net.Buffers) error {
	rw := c.p.rw
	if rw.writeTimeout > 0 {
		_ = c.p.conn.SetWriteDeadline(time.Now().Add(rw.writeTimeout))
	}
	if _, err := bufs.WriteTo(c.p.conn); err != nil {
		if rw.writeErr == nil {
			rw.writeErr = err
		}
		return err
	}
	return nil
}

// watch waits, without a buffer, until the client closes its connection
// or sends something, and ends the stream's context if it closed. Bytes
// from the client (a request pipelined behind a stream, which no
// streaming client sends) end the watch: the stream goes on and the
// connection is closed at its end. The watch ends when the stream closes
// the connection.
func (p *parking) watch() {
	if p.raw == nil {
		return
	}
	var state int
	if err := p.raw.Read(func(fd uintptr) bool {
		state = peekClient(fd)
		return state != peekNothing
	}); err != nil {
		return
	}
	p.sawClient(state)
}

// sawClient acts on what the watch found: a close ends the stream.
func (p *parking) sawClient(state int) {
	switch state {
	case peekClosed:
		p.clientGone.Store(true)
		p.cancel(errClientGone)
	case peekData:
		p.clientSent.Store(true)
	}
}

// watchClient starts the watch for the client's close: the gateway's
// shared watcher (one goroutine for all parked streams, where epoll
// exists), else a goroutine of the stream's own.
func (p *parking) watchClient() {
	if !p.g.deps.drain.watch.add(p) {
		go p.watch()
	}
}

// Results of peekClient.
const (
	peekNothing = iota // nothing to read: the client is silent
	peekData           // the client sent bytes
	peekClosed         // the client closed (FIN) or reset the connection
)

// parkedResponse stands in for net/http's response once the connection
// is hijacked: nothing in the chain writes after park, and a stray
// write fails instead of touching the hijacked connection.
type parkedResponse struct{}

func (parkedResponse) Header() http.Header         { return http.Header{} }
func (parkedResponse) Write([]byte) (int, error)   { return 0, http.ErrHijacked }
func (parkedResponse) WriteHeader(int)             {}
func (parkedResponse) Flush()                      {}
func (parkedResponse) Unwrap() http.ResponseWriter { return nil }

// pendingConn replays the bytes a client pipelined behind a stream that
// was served on its hijacked connection, then reads the connection.
type pendingConn struct {
	net.Conn
	mu      sync.Mutex
	pending []byte
}

func (c *pendingConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(b)
}

// reserve hands conn back to srv: Serve with a listener that accepts
// conn once and then reports itself closed, so Serve returns while
// net/http serves the connection. False if srv is shutting down.
func reserve(srv *http.Server, conn net.Conn) bool {
	l := &oneConn{conn: conn}
	_ = srv.Serve(l)
	return l.taken
}

type oneConn struct {
	conn  net.Conn
	taken bool
}

func (l *oneConn) Accept() (net.Conn, error) {
	if l.taken {
		return nil, net.ErrClosed
	}
	l.taken = true
	return l.conn, nil
}

func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.conn.LocalAddr() }
