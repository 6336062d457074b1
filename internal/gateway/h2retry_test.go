package gateway

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// refusingH2Backend is a minimal cleartext HTTP/2 server that refuses
// the first stream it is sent (RST_STREAM REFUSED_STREAM, before reading
// its body: the request was not processed, RFC 9113 section 8.7) and
// answers the others with a JSON-RPC result. bodies are the request
// bodies it received in full, in order.
type refusingH2Backend struct {
	// goaway: the first stream is refused with GOAWAY (last stream 0)
	// and the connection closed, instead of RST_STREAM.
	goaway bool
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	bodies []string
	heads  int
	conns  []net.Conn
}

func newRefusingH2Backend(t *testing.T, goaway bool) *refusingH2Backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &refusingH2Backend{ln: ln, goaway: goaway}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *refusingH2Backend) serve(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		return
	}
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	refused := map[uint32]bool{}
	bodies := map[uint32]*bytes.Buffer{}
	answer := func(id uint32) error {
		s.mu.Lock()
		s.bodies = append(s.bodies, bodies[id].String())
		s.mu.Unlock()
		const resp = `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`
		hbuf.Reset()
		_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		_ = enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/json"})
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hbuf.Bytes(), EndHeaders: true}); err != nil {
			return err
		}
		return fr.WriteData(id, true, []byte(resp))
	}
	for range 1000 {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					return
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = fr.WritePing(true, f.Data)
			}
		case *http2.HeadersFrame:
			id := f.StreamID
			s.mu.Lock()
			s.heads++
			first := s.heads == 1
			s.mu.Unlock()
			if first && s.goaway {
				// The server is going away and processed no stream.
				_ = fr.WriteGoAway(0, http2.ErrCodeNo, nil)
				return
			}
			if first {
				refused[id] = true
				if err := fr.WriteRSTStream(id, http2.ErrCodeRefusedStream); err != nil {
					return
				}
				continue
			}
			bodies[id] = &bytes.Buffer{}
			if f.StreamEnded() {
				if answer(id) != nil {
					return
				}
			}
		case *http2.DataFrame:
			id := f.StreamID
			if refused[id] || bodies[id] == nil {
				continue
			}
			bodies[id].Write(f.Data())
			if f.StreamEnded() {
				if answer(id) != nil {
					return
				}
			}
		}
	}
}

// TestBackendHTTP2RefusedStreamRetried: a tools/call (not idempotent,
// no retry policy) that an HTTP/2 backend refused, with REFUSED_STREAM or
// a GOAWAY naming no processed stream, is replayed, buffered body and
// all, since the backend said it did not process it.
func TestBackendHTTP2RefusedStreamRetried(t *testing.T) {
	for _, goaway := range []bool{false, true} {
		name := "REFUSED_STREAM"
		if goaway {
			name = "GOAWAY"
		}
		t.Run(name, func(t *testing.T) {
			be := newRefusingH2Backend(t, goaway)
			_, gw := startGateway(t, versionConfig, "http://"+be.ln.Addr().String(), "                http: {version: http2}")
			const call = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"once"}}}`
			req, _ := http.NewRequest("POST", gw+"/mcp", strings.NewReader(call))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			res, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"result"`) {
				t.Fatalf("status %d body %s", res.StatusCode, body)
			}
			be.mu.Lock()
			defer be.mu.Unlock()
			if be.heads != 2 || len(be.bodies) != 1 || be.bodies[0] != call {
				t.Fatalf("backend saw %d streams, answered bodies %q", be.heads, be.bodies)
			}
		})
	}
}
