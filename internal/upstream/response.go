package upstream

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
)

// ErrHeaderTooLarge is returned when a response's head (or a chunked
// body's trailer section) exceeds the client's limit.
var ErrHeaderTooLarge = errors.New("upstream: response headers exceed the limit")

// ProtocolError is a response the client refuses to parse: a malformed
// status line or field, or a framing it cannot trust (both
// Transfer-Encoding and Content-Length, differing Content-Lengths, an
// unknown transfer coding). Such a connection is never reused.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "upstream: malformed response: " + e.Msg }

func protoErr(format string, a ...any) error { return &ProtocolError{Msg: fmt.Sprintf(format, a...)} }

// head is a parsed response head, before the body is attached.
type head struct {
	status     int
	statusText string // "200 OK", as http.Response.Status
	minor      int    // HTTP/1.<minor>
	header     http.Header
	// length is the body's length: -1 for close-delimited, -2 for chunked.
	length    int64
	chunked   bool
	close     bool // the server closes the connection after this response
	trailerKs []string
}

const (
	lengthClose   = -1
	lengthChunked = -2
)

// tokenTable marks the bytes allowed in a header field name (RFC 9110 tchar).
var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// valueTable marks the bytes allowed in a field value: visible ASCII,
// space, HTAB and obs-text. CR, LF, NUL and the other controls are not.
var valueTable = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	for c := 0x80; c <= 0xff; c++ {
		t[c] = true
	}
	t['\t'] = true
	return t
}()

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenTable[s[i]] {
			return false
		}
	}
	return true
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if !valueTable[s[i]] {
			return false
		}
	}
	return true
}

// readLine returns one line without its line ending (CRLF or a bare LF),
// counting its bytes against *budget. The slice is valid until the next
// read from br unless it was accumulated into scratch.
func readLine(br *bufio.Reader, budget *int, scratch *[]byte) ([]byte, error) {
	return readLineEnd(br, budget, scratch, false)
}

// readLineEnd is readLine; with crlf, a line must end in CRLF.
func readLineEnd(br *bufio.Reader, budget *int, scratch *[]byte, crlf bool) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A line longer than the read buffer: accumulate it, within the
		// budget.
		*scratch = append((*scratch)[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(*scratch) > *budget {
				return nil, ErrHeaderTooLarge
			}
			line, err = br.ReadSlice('\n')
			*scratch = append(*scratch, line...)
		}
		line = *scratch
	}
	*budget -= len(line)
	if *budget < 0 {
		return nil, ErrHeaderTooLarge
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	} else if crlf {
		return nil, protoErr("line without CRLF")
	}
	return line, nil
}

// readHead reads one response head (status line and fields). A 1xx
// response is returned like any other; the caller passes it on.
func readHead(br *bufio.Reader, limit int, scratch *[]byte) (*head, error) {
	budget := limit
	line, err := readLine(br, &budget, scratch)
	if err != nil {
		return nil, err
	}
	h := &head{}
	if err := parseStatusLine(line, h); err != nil {
		return nil, err
	}
	// Collect the raw field lines into one buffer: one string for the
	// whole head, sliced into names and values, instead of two strings
	// per field.
	// Most heads fit the stack buffer; raw moves to the heap only for a
	// bigger one.
	var stack [1024]byte
	raw := stack[:0]
	raw, n, err := readFields(br, &budget, scratch, raw, false)
	if err != nil {
		return nil, err
	}
	h.header = make(http.Header, n)
	if err := parseFields(string(raw), n, h.header); err != nil {
		return nil, err
	}
	return h, nil
}

func parseStatusLine(line []byte, h *head) error {
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return protoErr("status line %q", truncate(line))
	}
	switch line[7] {
	case '0':
		h.minor = 0
	case '1':
		h.minor = 1
	default:
		return protoErr("status line %q", truncate(line))
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return protoErr("status code %q", truncate(line))
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return protoErr("status code %d", code)
	}
	if len(line) > 12 && line[12] != ' ' {
		return protoErr("status line %q", truncate(line))
	}
	for _, c := range line[9:] {
		if !valueTable[c] {
			return protoErr("control byte in status line")
		}
	}
	h.status = code
	if len(line) > 13 {
		if string(line[9:]) == "200 OK" {
			h.statusText = "200 OK"
		} else {
			h.statusText = string(line[9:])
		}
	} else {
		// No reason phrase: net/http fills in the standard one.
		h.statusText = strconv.Itoa(code) + " " + http.StatusText(code)
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// parseFields splits raw ("name: value\n" lines) into hdr. Values share
// one backing array, capped per key so that an append by a later user
// copies instead of overwriting a neighbour.
func parseFields(raw string, n int, hdr http.Header) error {
	vals := make([]string, 0, n)
	for len(raw) > 0 {
		i := strings.IndexByte(raw, '\n')
		line := raw[:i]
		raw = raw[i+1:]
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return protoErr("header line without a name")
		}
		name := line[:colon]
		if !validName(name) {
			// Includes whitespace before the colon (RFC 9112 5.1).
			return protoErr("invalid header name %q", name)
		}
		value := strings.Trim(line[colon+1:], " \t")
		if !validValue(value) {
			return protoErr("invalid value for header %q", name)
		}
		key := canonicalKey(name)
		if prev, ok := hdr[key]; ok {
			// A repeated field: prev's capacity ends at its length, so
			// the append copies rather than writing a neighbour's slot.
			hdr[key] = append(prev, value)
			continue
		}
		vals = append(vals, value)
		hdr[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	return nil
}

// canonicalKey is http.CanonicalHeaderKey without an allocation for a key
// that is canonical already (most are).
func canonicalKey(s string) string {
	upper := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return http.CanonicalHeaderKey(s)
		}
		upper = c == '-'
	}
	return s
}

// frame decides the body's framing from the head (RFC 9112 6.3), and
// refuses framings a smuggler could exploit.
func frame(h *head, method string) error {
	te := h.header["Transfer-Encoding"]
	cl := h.header["Content-Length"]
	conn := h.header["Connection"]
	// An HTTP/1.0 connection is never reused: keep-alive there is an
	// extension the client does not need.
	h.close = h.minor == 0 || hasToken(conn, "close")
	if len(te) > 0 {
		if len(cl) > 0 {
			return protoErr("both Transfer-Encoding and Content-Length")
		}
		if h.minor == 0 {
			return protoErr("Transfer-Encoding in an HTTP/1.0 response")
		}
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return protoErr("unsupported Transfer-Encoding %q", strings.Join(te, ","))
		}
		delete(h.header, "Transfer-Encoding")
	}
	length := int64(lengthClose)
	if len(cl) > 0 {
		for _, v := range cl[1:] {
			if v != cl[0] {
				return protoErr("differing Content-Length values")
			}
		}
		n, ok := parseLength(cl[0])
		if !ok {
			return protoErr("invalid Content-Length %q", cl[0])
		}
		if len(cl) > 1 {
			h.header["Content-Length"] = cl[:1]
		}
		length = n
	}
	if len(te) > 0 {
		length = lengthChunked
		h.chunked = true
	}
	switch {
	case h.status == http.StatusNoContent:
		if len(te) > 0 || length > 0 {
			return protoErr("204 response with a body")
		}
		length = 0
	case h.status == http.StatusNotModified, method == http.MethodHead:
		// The fields describe the representation; there is no body.
		length = 0
		h.chunked = false
	}
	h.length = length
	if length == lengthClose {
		h.close = true
	}
	if tr := h.header["Trailer"]; len(tr) > 0 {
		for _, v := range tr {
			for _, k := range strings.Split(v, ",") {
				k = strings.TrimSpace(k)
				if k == "" {
					continue
				}
				if !validName(k) {
					return protoErr("invalid Trailer name %q", k)
				}
				h.trailerKs = append(h.trailerKs, http.CanonicalHeaderKey(k))
			}
		}
		delete(h.header, "Trailer")
	}
	return nil
}

func parseLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// hasToken reports whether a comma-separated field contains tok
// (case-insensitively).
func hasToken(vals []string, tok string) bool {
	for _, v := range vals {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(t), tok) {
				return true
			}
		}
	}
	return false
}

// readResponse reads a response to req from br: informational (1xx)
// responses go to inform (nil: skipped), the framing is checked, and the
// body reads straight from br. The caller attaches the connection to a
// *body (nil: nothing to release, as in the fuzz target).
func readResponse(br *bufio.Reader, req *http.Request, limit int, inform Informer) (*http.Response, *head, error) {
	var scratch []byte
	var h *head
	var err error
	for n := 0; ; n++ {
		h, err = readHead(br, limit, &scratch)
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = fmt.Errorf("upstream: connection closed in the response head: %w", io.ErrUnexpectedEOF)
			}
			return nil, nil, err
		}
		if h.status >= 200 {
			break
		}
		if h.status == http.StatusSwitchingProtocols {
			return nil, nil, protoErr("101 Switching Protocols without an upgrade request")
		}
		if n >= max1xx {
			return nil, nil, protoErr("too many 1xx responses")
		}
		if inform != nil {
			if err := inform.Got1xx(h.status, h.header); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := frame(h, req.Method); err != nil {
		return nil, nil, err
	}
	res := &http.Response{
		Status:        h.statusText,
		StatusCode:    h.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    h.minor,
		Header:        h.header,
		ContentLength: h.length,
		Close:         h.close,
		Request:       req,
	}
	if h.minor == 0 {
		res.Proto = "HTTP/1.0"
	}
	if len(h.trailerKs) > 0 {
		res.Trailer = make(http.Header, len(h.trailerKs))
		for _, k := range h.trailerKs {
			res.Trailer[k] = nil
		}
	}
	if h.length == 0 {
		res.Body = http.NoBody
		return res, h, nil
	}
	b := &body{res: res, close: h.close, limit: limit}
	b.rd, b.lent = *br, br
	b.br = &b.rd
	switch {
	case h.chunked:
		res.ContentLength = -1
		res.TransferEncoding = []string{"chunked"}
		b.mode = modeChunked
		b.cr = newChunkedReader(b.br)
	case h.length > 0:
		b.mode = modeFixed
		b.n = h.length
	default:
		res.ContentLength = -1
		b.mode = modeClose
	}
	res.Body = b
	return res, h, nil
}

// readFields reads a field section (a response head's header fields, or
// a trailer with trailer set) up to its empty line, appending each line
// and a '\n' to raw; n is the number of lines. A trailer's lines must end
// in CRLF, as net/http has them.
func readFields(br *bufio.Reader, budget *int, scratch *[]byte, raw []byte, trailer bool) (_ []byte, n int, err error) {
	for {
		line, err := readLineEnd(br, budget, scratch, trailer)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, 0, err
		}
		if len(line) == 0 {
			return raw, n, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold (RFC 9112 5.2): a continuation line. Refused:
			// intermediaries disagree on how to join it.
			if trailer {
				return nil, 0, protoErr("folded trailer line")
			}
			return nil, 0, protoErr("folded header line")
		}
		raw = append(raw, line...)
		raw = append(raw, '\n')
		n++
	}
}

// readTrailer reads the trailer section after a chunked body's last
// chunk, up to the empty line.
func readTrailer(br *bufio.Reader, limit int, scratch *[]byte) (http.Header, error) {
	// Stricter than a response head, as net/http: the section's lines
	// end in CRLF, and one cut short by the end of the stream is an
	// error.
	if b, err := br.Peek(2); err != nil {
		return nil, io.ErrUnexpectedEOF
	} else if b[0] == '\r' && b[1] == '\n' {
		_, _ = br.Discard(2)
		return nil, nil
	}
	budget := limit
	raw, n, err := readFields(br, &budget, scratch, nil, true)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	t := make(http.Header, n)
	if err := parseFields(string(raw), n, t); err != nil {
		return nil, err
	}
	return t, nil
}

// newChunkedReader decodes a chunked body from br. It stops after the last
// chunk's size line; the trailer section is read separately.
func newChunkedReader(br *bufio.Reader) io.Reader { return httputil.NewChunkedReader(br) }
