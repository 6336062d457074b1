package kubeenv

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a loopback TCP proxy in front of the API server, to take it
// away from a client without stopping it: Down refuses connections (as a
// crashed API server would), Hold accepts them but forwards nothing until
// Release (as an overloaded one would). TLS passes through untouched, and
// the serving certificate is valid for 127.0.0.1, so URL works as the API
// server's address.
type Proxy struct {
	// URL is https://127.0.0.1:<port>.
	URL    string
	addr   string
	target string

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	held    chan struct{} // closed by Release; nil when not holding
	closed  bool
	accepts int
}

// NewProxy starts a proxy to the cluster; it is closed when the test ends.
func (c *Cluster) NewProxy(t testing.TB) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{addr: ln.Addr().String(), target: c.URL[len("https://"):], conns: map[net.Conn]struct{}{}}
	p.URL = "https://" + p.addr
	p.serve(ln)
	t.Cleanup(p.Close)
	return p
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.closed || p.ln != ln {
				p.mu.Unlock()
				conn.Close()
				continue
			}
			p.conns[conn] = struct{}{}
			p.accepts++
			held := p.held
			p.mu.Unlock()
			go p.pipe(conn, held)
		}
	}()
}

func (p *Proxy) pipe(conn net.Conn, held chan struct{}) {
	defer p.forget(conn)
	if held != nil {
		<-held
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.forget(up)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, up); done <- struct{}{} }()
	<-done
}

func (p *Proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// dropConns closes every open connection. Callers hold p.mu.
func (p *Proxy) dropConns() {
	for c := range p.conns {
		c.Close()
	}
}

// Down closes the listener and every connection: new connections are
// refused until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.dropConns()
}

// Up listens again on the same address after Down.
func (p *Proxy) Up() error {
	p.mu.Lock()
	if p.ln != nil || p.closed {
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	var (
		ln  net.Listener
		err error
	)
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("proxy: listening again on %s: %w", p.addr, err)
}

// Hold drops the open connections; new ones are accepted but not
// forwarded until Release.
func (p *Proxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held == nil {
		p.held = make(chan struct{})
	}
	p.dropConns()
}

// Release forwards the held connections and stops holding.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held != nil {
		close(p.held)
		p.held = nil
	}
}

// Accepts counts the connections accepted so far.
func (p *Proxy) Accepts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepts
}

// Close stops the proxy for good.
func (p *Proxy) Close() {
	p.Release()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Down()
}
