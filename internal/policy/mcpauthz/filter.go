package mcpauthz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
	"github.com/agentgateway-go/agentgateway/internal/policy"
)

// MaxListResponseBytes bounds a JSON list response (and one SSE event)
// that the gateway reads to filter.
const MaxListResponseBytes = 8 << 20

// errUnfilterable is returned when a list result cannot be filtered with
// certainty; the gateway then refuses to pass it on.
var errUnfilterable = errors.New("list result cannot be filtered")

// filterResult removes from the JSON-RPC response msg the items of a list
// result that allow rejects. Everything outside the items array is kept
// byte for byte, and so are the kept items, with one exception: a result
// that carries the 2026-07-28 cache hints (ttlMs, cacheScope) gets
// cacheScope "private", because the filtered list is specific to the
// caller and must not be served to anyone else by a shared cache. It
// returns msg itself when nothing changes: error responses, results
// without the array, and messages that are not responses at all.
//
// A response that clients could read differently from the gateway
// (duplicate or case-folded "result", array or cache members, a non-array
// list; see mcp.ReadList) is errUnfilterable. An item whose matched member
// is missing, not a string, duplicated or case-ambiguous is dropped.
func filterResult(msg []byte, l mcp.List, allow func(string) bool) ([]byte, bool, error) {
	if !mcp.ValidJSON(msg) {
		return nil, false, fmt.Errorf("%w: invalid JSON", errUnfilterable)
	}
	i := mcp.SkipSpace(msg, 0)
	if i >= len(msg) || msg[i] != '{' {
		return nil, false, fmt.Errorf("%w: not a JSON-RPC object", errUnfilterable)
	}
	return filterLists(msg, []mcp.List{l}, func(_ mcp.List, v string) bool { return allow(v) })
}

// filterLists filters the lists ls in msg, one valid JSON object, with
// allow, in one pass: the dropped items of every list and the cache hint
// become splices of the original bytes.
func filterLists(msg []byte, ls []mcp.List, allow func(mcp.List, string) bool) ([]byte, bool, error) {
	r, ok, err := mcp.ReadList(msg, ls...)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", errUnfilterable, err)
	}
	if !ok {
		return msg, false, nil
	}
	var edits []splice
	for _, l := range ls {
		var kept [][2]int
		dropped := 0
		err := r.Items(msg, l, func(s, e int, name string, ok bool) bool {
			if ok && !(l.URI() && unsafeURI(name) != "") && allow(l, name) {
				kept = append(kept, [2]int{s, e})
			} else {
				dropped++
			}
			return true
		})
		if err != nil {
			return nil, false, fmt.Errorf("%w: %v", errUnfilterable, err)
		}
		if dropped > 0 {
			a := []byte{'['}
			for k, sp := range kept {
				if k > 0 {
					a = append(a, ',')
				}
				a = append(a, msg[sp[0]:sp[1]]...)
			}
			arr := r.Arrays[l]
			edits = append(edits, splice{arr.Start, arr.End, append(a, ']')})
		}
	}
	switch scope := r.CacheScope; {
	case scope.Present():
		if v, ok := mcp.String(msg, scope); !ok || v != "private" {
			edits = append(edits, splice{scope.Start, scope.End, []byte(`"private"`)})
		}
	case r.TTL.Present():
		// The result has members (ttlMs), so a trailing comma is valid.
		edits = append(edits, splice{r.Result.Start + 1, r.Result.Start + 1, []byte(`"cacheScope":"private",`)})
	}
	if len(edits) == 0 {
		return msg, false, nil
	}
	return applySplices(msg, edits), true, nil
}

// splice replaces msg[s:e] with repl.
type splice struct {
	s, e int
	repl []byte
}

// applySplices applies non-overlapping edits.
func applySplices(msg []byte, edits []splice) []byte {
	slices.SortFunc(edits, func(a, b splice) int { return a.s - b.s })
	out := make([]byte, 0, len(msg)+32)
	at := 0
	for _, e := range edits {
		out = append(out, msg[at:e.s]...)
		out = append(out, e.repl...)
		at = e.e
	}
	return append(out, msg[at:]...)
}

// listFilter filters the list results of one response, on every channel
// a result travels: the response to a POST carrying one list request
// (stream false: that list alone, in a JSON body or on the POST's SSE
// stream), and the GET streams on which the gateway does not know which
// request a response answers (stream true: every list, recognised by
// shape; see filterAnyList). Both read results with the one walker,
// mcp.ReadList.
type listFilter struct {
	// list is the list the POST's request asked for; unused on a stream.
	list   mcp.List
	stream bool
	allow  func(mcp.List, string) bool
	// id is the raw id of the POST's request, echoed by errors that
	// replace an unfilterable SSE event; on a stream the event's own
	// message id is echoed.
	id json.RawMessage
	// endpoint, when set (legacy HTTP+SSE streams), is called with the
	// data of every endpoint event (already rewritten into the gateway's
	// URL space); an error ends the stream without the event.
	endpoint func(data string) error
	// onError reports a result that could not be filtered (for logs).
	onError func(error)
}

// filter filters one JSON body or SSE event data.
func (f *listFilter) filter(msg []byte) ([]byte, bool, error) {
	if f.stream {
		return filterAnyList(msg, f.allow)
	}
	return filterResult(msg, f.list, func(v string) bool { return f.allow(f.list, v) })
}

// what names the filtered result in errors.
func (f *listFilter) what() string {
	if f.stream {
		return "a list result"
	}
	return "the " + f.list.Method() + " response"
}

func (f *listFilter) report(err error) {
	if f.onError != nil {
		f.onError(err)
	}
}

// hook is an Exchange response hook that filters the response in place. A
// response that is not a 2xx with a body passes unchanged; one that is
// compressed, or of a media type other than JSON and SSE, cannot be
// filtered.
func (f *listFilter) hook(res *http.Response) error {
	if res.StatusCode < 200 || res.StatusCode > 299 || res.Body == nil || res.Body == http.NoBody {
		return nil
	}
	if ce := strings.TrimSpace(res.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		return f.fail(fmt.Errorf("%w: response has Content-Encoding %q", errUnfilterable, ce))
	}
	switch mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt {
	case "application/json":
		return filterJSONBody(res, f.fail, f.filter)
	case "text/event-stream":
		if f.endpoint == nil {
			res.Body = mcp.RewriteEvents(res.Body, MaxListResponseBytes, f.event)
			return nil
		}
		body := &endableBody{ReadCloser: res.Body}
		res.Body = mcp.RewriteEvents(body, MaxListResponseBytes, func(ev *mcp.Event) bool {
			if body.err != nil {
				ev.Drop = true
				return true
			}
			if ev.Event != "endpoint" {
				return f.event(ev)
			}
			if err := f.endpoint(ev.Data); err != nil {
				f.report(err)
				// A client must not get an endpoint that is not bound to
				// it: end the stream here, without the event.
				body.end(err)
				ev.Drop = true
				return true
			}
			return false
		})
		return nil
	}
	if res.ContentLength == 0 {
		return nil
	}
	return f.fail(fmt.Errorf("%w: unexpected Content-Type %q", errUnfilterable, res.Header.Get("Content-Type")))
}

func (f *listFilter) fail(err error) error {
	f.report(err)
	what := f.what()
	if f.stream {
		what = "the stream"
	}
	return &policy.Error{Status: http.StatusBadGateway, Code: policy.CodeGateway,
		Message: "the gateway could not filter " + what, Cause: err}
}

// filterJSONBody reads a bounded JSON response body, filters it with fn
// and puts the result back; fail turns a body that cannot be filtered into
// the error that aborts the response.
func filterJSONBody(res *http.Response, fail func(error) error, fn func([]byte) ([]byte, bool, error)) error {
	if res.ContentLength > MaxListResponseBytes {
		return fail(fmt.Errorf("%w: response larger than %d bytes", errUnfilterable, MaxListResponseBytes))
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, MaxListResponseBytes+1))
	_ = res.Body.Close()
	if err != nil {
		return &policy.Error{Status: http.StatusBadGateway, Code: policy.CodeGateway, Message: "backend error", Cause: err}
	}
	if len(b) > MaxListResponseBytes {
		return fail(fmt.Errorf("%w: response larger than %d bytes", errUnfilterable, MaxListResponseBytes))
	}
	out, _, err := fn(b)
	if err != nil {
		return fail(err)
	}
	res.Body = io.NopCloser(bytes.NewReader(out))
	res.ContentLength = int64(len(out))
	res.Header.Set("Content-Length", strconv.Itoa(len(out)))
	res.TransferEncoding = nil
	return nil
}

// event filters the lists in one SSE event. Events that are not JSON (the
// legacy endpoint event, keepalives) pass unchanged, and so do those that
// carry no list (server requests and notifications on the same stream);
// one that cannot be filtered is replaced by an error. The POST carried
// exactly one request (lists are never batched), so every response on its
// stream answers it and a batch response cannot.
func (f *listFilter) event(ev *mcp.Event) bool {
	if !ev.HasData {
		return false
	}
	data := []byte(ev.Data)
	i := mcp.SkipSpace(data, 0)
	if i >= len(data) || (data[i] != '{' && data[i] != '[') {
		return false
	}
	var out []byte
	var changed bool
	var err error
	if !f.stream && data[i] == '[' {
		err = fmt.Errorf("%w: batch response on a list stream", errUnfilterable)
	} else {
		out, changed, err = f.filter(data)
	}
	if err != nil {
		f.report(err)
		id := f.id
		if f.stream {
			id = messageID(data)
		}
		ev.Data = string(filterErrorMessage(id, "the gateway could not filter "+f.what()))
		return true
	}
	if !changed {
		return false
	}
	ev.Data = string(out)
	return true
}

// filterErrorMessage is the JSON-RPC error that replaces a response the
// gateway could not filter, answering request id (null when unknown).
func filterErrorMessage(id json.RawMessage, msg string) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	eb, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   any             `json:"error"`
	}{"2.0", id, map[string]any{"code": policy.CodeGateway,
		"message": msg,
		"data":    map[string]int{"httpStatus": http.StatusBadGateway}}})
	return eb
}

// filterAnyList filters every list a JSON-RPC message carries, recognised
// by its shape rather than by the request it answers: a result object
// with a tools, resources, resourceTemplates or prompts member is
// filtered as the result of the matching list method would be (several
// such members: each one). A batch is filtered element by element.
//
// It serves the channels on which the gateway does not know which request
// a response answers: the standalone GET stream, a stream resumed with
// Last-Event-ID (a replay of a POST stream the gateway may never have seen,
// say before a restart or through another replica), and the legacy
// HTTP+SSE stream, which carries the responses to every POST of its
// session. Request ids are chosen by the client and may be reused, so they
// never decide that a response needs no filtering; shape alone does.
func filterAnyList(msg []byte, allow func(mcp.List, string) bool) ([]byte, bool, error) {
	if !mcp.ValidJSON(msg) {
		return nil, false, fmt.Errorf("%w: invalid JSON", errUnfilterable)
	}
	i := mcp.SkipSpace(msg, 0)
	if i >= len(msg) || msg[i] != '[' {
		return filterLists(msg, mcp.Lists[:], allow)
	}
	var parts [][]byte
	changed := false
	var ferr error
	err := mcp.Elements(msg, i, func(s, e int) bool {
		out, c, err := filterLists(msg[s:e], mcp.Lists[:], allow)
		if err != nil {
			ferr = err
			return false
		}
		parts = append(parts, out)
		changed = changed || c
		return true
	})
	if ferr != nil {
		return nil, false, ferr
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", errUnfilterable, err)
	}
	if !changed {
		return msg, false, nil
	}
	return append(append([]byte{'['}, bytes.Join(parts, []byte{','})...), ']'), true, nil
}

// messageID returns the raw id of a valid JSON-RPC object, or nil.
func messageID(msg []byte) json.RawMessage {
	i := mcp.SkipSpace(msg, 0)
	if !mcp.ValidJSON(msg) || i >= len(msg) || msg[i] != '{' {
		return nil
	}
	f, err := mcp.Lookup(msg, i, "id")
	if err != nil || !f[0].Present() {
		return nil
	}
	return json.RawMessage(msg[f[0].Start:f[0].End])
}

// endableBody is a response body that a stream filter can end: once
// ended, reads fail with the reason and the backend's body is closed.
// Reads and end happen on the one goroutine reading the stream.
type endableBody struct {
	io.ReadCloser
	err error
}

// WaitData lets the proxy wait for the stream's next data without a read
// buffer, when the backend's body can (mcp.RewriteEvents passes the wait
// through to this body).
func (b *endableBody) WaitData() {
	if dw, ok := b.ReadCloser.(interface{ WaitData() }); ok && b.err == nil {
		dw.WaitData()
	}
}

func (b *endableBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	return b.ReadCloser.Read(p)
}

func (b *endableBody) end(err error) {
	b.err = err
	_ = b.ReadCloser.Close()
}
