package upstream

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
)

// headError is a request the client refuses to write: nothing was sent.
type headError struct{ msg string }

func (e *headError) Error() string { return "upstream: invalid request: " + e.msg }

// hopByHop are the request fields a proxy never forwards (RFC 9110 7.6.1;
// net/http/httputil's list), plus the ones this writer produces itself.
func skipAlways(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length", "User-Agent":
		return true
	}
	return false
}

// writeRequest writes req's head and body to w. Header values are checked
// as they are written: a name that is not a token, or a value with CR, LF
// or another control byte, fails the request before anything is sent.
func writeRequest(w *bufio.Writer, req *http.Request, f *Forwarding) error {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validName(method) {
		return &headError{fmt.Sprintf("method %q", method)}
	}
	if req.URL.Opaque != "" {
		return &headError{"opaque URL"}
	}
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if !validTarget(path) || !validTarget(req.URL.RawQuery) {
		return &headError{"request target"}
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validTarget(host) {
		return &headError{"host"}
	}
	_, _ = w.WriteString(method)
	_ = w.WriteByte(' ')
	_, _ = w.WriteString(path)
	if req.URL.RawQuery != "" {
		_ = w.WriteByte('?')
		_, _ = w.WriteString(req.URL.RawQuery)
	}
	_, _ = w.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = w.WriteString(host)
	_, _ = w.WriteString("\r\n")
	conn := req.Header["Connection"]
	for k, vs := range req.Header {
		if skipAlways(k) || (f != nil && f.skip(k)) || (len(conn) > 0 && hasToken(conn, k)) {
			continue
		}
		if !validName(k) {
			return &headError{fmt.Sprintf("header name %q", k)}
		}
		for _, v := range vs {
			if err := writeField(w, k, v); err != nil {
				return err
			}
		}
	}
	if ua := req.Header["User-Agent"]; len(ua) > 0 && ua[0] != "" {
		// As net/http: the first value only; none when empty.
		if err := writeField(w, "User-Agent", ua[0]); err != nil {
			return err
		}
	}
	if hasToken(req.Header["Te"], "trailers") {
		_, _ = w.WriteString("Te: trailers\r\n")
	}
	if f != nil {
		for _, fl := range f.Set {
			if !validName(fl.Name) {
				return &headError{fmt.Sprintf("header name %q", fl.Name)}
			}
			if err := writeField(w, fl.Name, fl.Value); err != nil {
				return err
			}
		}
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	switch {
	case hasBody && req.ContentLength > 0:
		_, _ = w.WriteString("Content-Length: ")
		_, _ = w.WriteString(strconv.FormatInt(req.ContentLength, 10))
		_, _ = w.WriteString("\r\n\r\n")
		n, err := io.Copy(w, io.LimitReader(req.Body, req.ContentLength))
		if err != nil {
			return err
		}
		if n != req.ContentLength {
			return &headError{fmt.Sprintf("request body is %d bytes, not its Content-Length %d", n, req.ContentLength)}
		}
	case hasBody && req.ContentLength < 0:
		_, _ = w.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		cw := httputil.NewChunkedWriter(w)
		if _, err := io.Copy(cw, req.Body); err != nil {
			return err
		}
		if err := cw.Close(); err != nil {
			return err
		}
		_, _ = w.WriteString("\r\n")
	default:
		switch method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			_, _ = w.WriteString("Content-Length: 0\r\n")
		}
		_, _ = w.WriteString("\r\n")
	}
	return nil
}

func writeField(w *bufio.Writer, k, v string) error {
	if !validValue(v) {
		return &headError{fmt.Sprintf("value of header %q", k)}
	}
	_, _ = w.WriteString(k)
	_, _ = w.WriteString(": ")
	_, _ = w.WriteString(v)
	_, _ = w.WriteString("\r\n")
	return nil
}

func (f *Forwarding) skip(k string) bool {
	for _, o := range f.Omit {
		if o == k {
			return true
		}
	}
	for _, s := range f.Set {
		if s.Name == k {
			return true
		}
	}
	return false
}

// validTarget reports whether s can go into the request line or Host:
// no spaces or control bytes.
func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
