package e2e

// Chaos tests (issue #9): one fault at a time, each under steady load with
// SSE streams held open through the gateway, on loopback only. Every test
// states its expectation (docs/operations.md, "Failures") and checks the
// statuses, the recovery time, that no tools/call ran twice, that the
// streams stayed open (unless the fault necessarily ends them) and that the
// gateway's goroutines and heap return near their level before the load.
//
// This file holds the load driver (chaosLoad), the stream holder
// (chaosStreams), a fault-injecting MCP backend (chaosBackend) and the
// backend faults: killed and restarted, hanging, resetting connections.
// chaos_deps_test.go has the faults of what the gateway depends on: Redis,
// the JWKS endpoint and the kube-apiserver.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// Load.

// chaosSeq numbers every call of every load in the process, so JSON-RPC
// ids (and the keys made from them) never repeat across loads.
var chaosSeq atomic.Int64

// chaosLoadConfig describes a steady load: Workers loops, each sending one
// call at a time with a pause between calls, bounded by MaxCalls per
// worker and by MaxTime, plus Streams SSE GET streams held open from
// before the first call until CloseStreams.
type chaosLoadConfig struct {
	URL    string // where the calls are POSTed
	Prefix string // of every tools/call key
	Tool   string // default "echo"
	// ListEvery makes every call whose id is a multiple of it a tools/list
	// (0: tools/call only).
	ListEvery int
	// Header returns extra headers for call id (nil: none). It runs before
	// the call's clock starts.
	Header   func(id int) map[string]string
	Workers  int           // default 4
	Pause    time.Duration // between two calls of a worker; default 5ms
	MaxCalls int           // per worker; default 5000
	MaxTime  time.Duration // default 25s
	Timeout  time.Duration // per call; default 10s

	Streams      int    // SSE GET streams held open
	StreamURL    string // where they are opened
	StreamHeader map[string]string
}

// chaosResult is one call as the client saw it.
type chaosResult struct {
	id         int
	method     string
	key        string // tools/call only
	at         time.Time
	took       time.Duration
	status     int // -1: transport error
	err        error
	body       []byte // unless the status is 200
	retryAfter string
}

func (r chaosResult) end() time.Time { return r.at.Add(r.took) }

func (r chaosResult) String() string {
	s := fmt.Sprintf("%s id %d: status %d after %v", r.method, r.id, r.status, r.took.Round(time.Millisecond))
	if r.err != nil {
		s += fmt.Sprintf(" (%v)", r.err)
	}
	if len(r.body) > 0 {
		s += fmt.Sprintf(" body %.200s", r.body)
	}
	return s
}

type chaosLoad struct {
	cfg     chaosLoadConfig
	client  *http.Client
	streams *chaosStreams

	mu      sync.Mutex
	results []chaosResult

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// startChaosLoad opens the streams, waits until each has its first event,
// then starts the workers.
func startChaosLoad(t *testing.T, cfg chaosLoadConfig) *chaosLoad {
	t.Helper()
	if cfg.Tool == "" {
		cfg.Tool = "echo"
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.Pause == 0 {
		cfg.Pause = 5 * time.Millisecond
	}
	if cfg.MaxCalls == 0 {
		cfg.MaxCalls = 5000
	}
	if cfg.MaxTime == 0 {
		cfg.MaxTime = 25 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	l := &chaosLoad{
		cfg:    cfg,
		client: &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}},
		stop:   make(chan struct{}),
	}
	if cfg.Streams > 0 {
		l.streams = openChaosStreams(t, cfg.StreamURL, cfg.StreamHeader, cfg.Streams)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.MaxTime)
	for w := 0; w < cfg.Workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := 0; n < cfg.MaxCalls; n++ {
				select {
				case <-l.stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				r := l.call(int(chaosSeq.Add(1)))
				l.mu.Lock()
				l.results = append(l.results, r)
				l.mu.Unlock()
				select {
				case <-l.stop:
					return
				case <-ctx.Done():
					return
				case <-time.After(cfg.Pause):
				}
			}
		}()
	}
	go func() { l.wg.Wait(); cancel() }()
	t.Cleanup(func() { l.Stop(); l.CloseStreams() })
	return l
}

func (l *chaosLoad) call(id int) chaosResult {
	method, tool, key := "tools/call", l.cfg.Tool, l.cfg.Prefix+strconv.Itoa(id)
	var args any = resToolArgs{Key: key, Text: key}
	if l.cfg.ListEvery > 0 && id%l.cfg.ListEvery == 0 {
		method, tool, key, args = "tools/list", "", "", nil
	}
	var extra map[string]string
	if l.cfg.Header != nil {
		extra = l.cfg.Header(id)
	}
	r := chaosCall(l.client, l.cfg.URL, id, method, tool, args, extra)
	r.key = key
	return r
}

// chaosCall sends one JSON-RPC request (protocol 2025-03-26) and reads the
// whole answer. It never calls t.Fatal.
func chaosCall(c *http.Client, url string, id int, method, tool string, args any, extra map[string]string) chaosResult {
	body, hdr := resRequest(id, method, tool, args, false, "")
	for k, v := range extra {
		hdr[k] = v
	}
	start := time.Now()
	r, err := resDo(c, http.MethodPost, url, body, hdr)
	res := chaosResult{id: id, method: method, at: start, took: time.Since(start)}
	if a, ok := args.(resToolArgs); ok {
		res.key = a.Key
	}
	switch {
	case err != nil:
		res.status, res.err = -1, err
	default:
		res.status = r.Status
		res.retryAfter = r.Header.Get("Retry-After")
		if r.ReadErr != nil {
			res.err = r.ReadErr
		}
		if r.Status != http.StatusOK || r.ReadErr != nil {
			res.body = r.Body
		}
	}
	return res
}

// Stop stops the workers, waits for the calls in flight and returns every
// result in the order the calls started.
func (l *chaosLoad) Stop() []chaosResult {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	l.client.CloseIdleConnections()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]chaosResult(nil), l.results...)
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// CloseStreams ends the load's streams (see chaosStreams.Close).
func (l *chaosLoad) CloseStreams() chaosStreamStats {
	if l.streams == nil {
		return chaosStreamStats{}
	}
	return l.streams.Close()
}

// chaosStatuses counts results per status, for logs.
func chaosStatuses(rs []chaosResult) string {
	n := map[int]int{}
	for _, r := range rs {
		n[r.status]++
	}
	keys := make([]int, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", n[k], k))
	}
	return strings.Join(parts, " ")
}

// chaosRecovery returns how long after at the first call that started
// after at succeeded ended, and whether every call starting from that one
// on succeeded too.
func chaosRecovery(rs []chaosResult, at time.Time) (time.Duration, bool) {
	for i, r := range rs {
		if r.at.Before(at) || r.status != http.StatusOK {
			continue
		}
		for _, later := range rs[i:] {
			if later.status != http.StatusOK && later.at.After(r.end()) {
				return r.end().Sub(at), false
			}
		}
		return r.end().Sub(at), true
	}
	return -1, false
}

// chaosP99 returns the 99th percentile of the calls' latencies.
func chaosP99(rs []chaosResult) time.Duration {
	if len(rs) == 0 {
		return 0
	}
	ls := make([]time.Duration, len(rs))
	for i, r := range rs {
		ls[i] = r.took
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
	return ls[len(ls)*99/100]
}

// chaosRPCError checks that r is a gateway-rendered JSON-RPC error with
// status, echoing r's id.
func chaosRPCError(r chaosResult, status int) error {
	if r.status != status {
		return fmt.Errorf("status %d, want %d", r.status, status)
	}
	var m resMsg
	if err := json.Unmarshal(r.body, &m); err != nil {
		return fmt.Errorf("body not JSON: %v", err)
	}
	if m.JSONRPC != "2.0" || m.Error == nil {
		return fmt.Errorf("not a JSON-RPC error")
	}
	if string(m.ID) != strconv.Itoa(r.id) {
		return fmt.Errorf("error id %s, want %d", m.ID, r.id)
	}
	if m.Error.Data.HTTPStatus != status {
		return fmt.Errorf("error.data.httpStatus %d, want %d", m.Error.Data.HTTPStatus, status)
	}
	return nil
}

// chaosFails reports the first few of many similar failures, then how
// many there were.
type chaosFails struct {
	t *testing.T
	n int
}

func (f *chaosFails) add(format string, args ...any) {
	f.t.Helper()
	f.n++
	if f.n <= 5 {
		f.t.Errorf(format, args...)
	}
}

func (f *chaosFails) done() {
	f.t.Helper()
	if f.n > 5 {
		f.t.Errorf("... %d failures in all", f.n)
	}
}

// ---------------------------------------------------------------------------
// Streams.

// chaosStreams holds SSE GET streams open and records, per stream, its
// status, its events and the longest silence between two events.
type chaosStreams struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	streams []*chaosStream
	client  *http.Client
}

type chaosStream struct {
	mu      sync.Mutex
	status  int
	events  int
	last    time.Time
	maxGap  time.Duration
	err     error     // why it ended before Close (io.EOF for a clean end)
	endedAt time.Time // zero while open
}

// chaosStreamStats sums up streams at Close.
type chaosStreamStats struct {
	Open, Ended, Events int
	MaxGap              time.Duration
}

// openChaosStreams opens n streams to url and waits (at most 10 s) until
// each has answered 200 and sent its first event.
func openChaosStreams(t *testing.T, url string, hdr map[string]string, n int) *chaosStreams {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &chaosStreams{cancel: cancel, client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
	for i := 0; i < n; i++ {
		st := &chaosStream{}
		s.streams = append(s.streams, st)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			st.run(ctx, s.client, url, hdr)
		}()
	}
	t.Cleanup(func() { s.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for _, st := range s.streams {
		for {
			st.mu.Lock()
			events, status, err := st.events, st.status, st.err
			st.mu.Unlock()
			if events > 0 {
				break
			}
			if err != nil || time.Now().After(deadline) {
				t.Fatalf("stream to %s: status %d, %d events, err %v", url, status, events, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return s
}

func (st *chaosStream) run(ctx context.Context, c *http.Client, url string, hdr map[string]string) {
	end := func(err error) {
		st.mu.Lock()
		defer st.mu.Unlock()
		if ctx.Err() == nil {
			st.err, st.endedAt = err, time.Now()
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		end(err)
		return
	}
	defer resp.Body.Close()
	st.mu.Lock()
	st.status = resp.StatusCode
	st.mu.Unlock()
	if resp.StatusCode != http.StatusOK {
		end(fmt.Errorf("status %d", resp.StatusCode))
		return
	}
	rd := bufio.NewReader(resp.Body)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			end(err)
			return
		}
		if strings.HasPrefix(line, "data:") {
			now := time.Now()
			st.mu.Lock()
			if !st.last.IsZero() && now.Sub(st.last) > st.maxGap {
				st.maxGap = now.Sub(st.last)
			}
			st.events++
			st.last = now
			st.mu.Unlock()
		}
	}
}

// Close ends the streams still open and returns their stats; the silence
// from a stream's last event to Close counts as a gap.
func (s *chaosStreams) Close() chaosStreamStats {
	now := time.Now()
	var out chaosStreamStats
	for _, st := range s.streams {
		st.mu.Lock()
		if st.endedAt.IsZero() {
			out.Open++
			if !st.last.IsZero() && now.Sub(st.last) > st.maxGap {
				st.maxGap = now.Sub(st.last)
			}
		} else {
			out.Ended++
		}
		out.Events += st.events
		out.MaxGap = max(out.MaxGap, st.maxGap)
		st.mu.Unlock()
	}
	s.cancel()
	s.wg.Wait()
	s.client.CloseIdleConnections()
	return out
}

// ended returns, per stream, when it ended (zero: still open) and why.
func (s *chaosStreams) ended() ([]time.Time, []error) {
	var ts []time.Time
	var errs []error
	for _, st := range s.streams {
		st.mu.Lock()
		ts = append(ts, st.endedAt)
		errs = append(errs, st.err)
		st.mu.Unlock()
	}
	return ts, errs
}

// chaosStreamGap bounds the silence of a stream that stays open: the
// stream backend sends an event every 100 ms.
const chaosStreamGap = 2 * time.Second

// wantChaosStreamsOpen checks that every stream stayed open and kept
// moving through the whole test.
func wantChaosStreamsOpen(t *testing.T, st chaosStreamStats, n int) {
	t.Helper()
	if st.Open != n || st.Ended != 0 {
		t.Errorf("streams: %d of %d still open at the end, %d ended during the test", st.Open, n, st.Ended)
	}
	if st.MaxGap > chaosStreamGap {
		t.Errorf("streams: silent for %v at some point (events every 100ms)", st.MaxGap)
	}
}

// wantChaosClientCloseNotBlamed checks that the streams of route
// "events", which only the client ever closes (at the end of the test),
// were not logged as broken by the backend.
//
// A client closing an SSE stream makes the reverse proxy's copy fail and
// panic with http.ErrAbortHandler, as a backend cutting it does; the edge
// must tell the two apart (a 499, not "backend broke the response").
func wantChaosClientCloseNotBlamed(t *testing.T, g *Gateway) {
	t.Helper()
	n := 0
	for _, line := range strings.Split(g.Logs(), "\n") {
		if strings.Contains(line, "backend broke the response") && strings.Contains(line, `"route":"events"`) {
			n++
		}
	}
	if n > 0 {
		t.Errorf("%d streams that the client closed were logged as \"stream aborted: backend broke the response\"", n)
	}
}

// wantChaosLogsJSON checks that, with logging.format json, every line the
// gateway wrote is a JSON object.
//
// Policies log through the gateway's logger (policy.Env.Logger), never
// slog.Default(), which would write Go's text format and ignore
// logging.level.
func wantChaosLogsJSON(t *testing.T, g *Gateway) {
	t.Helper()
	var bad []string
	for _, line := range strings.Split(g.Logs(), "\n") {
		if line != "" && !json.Valid([]byte(line)) {
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d log lines are not JSON with logging.format json; first: %.200s", len(bad), bad[0])
	}
}

// chaosSSE sends an event every 100 ms until the client goes away.
func chaosSSE() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			if _, err := fmt.Fprintf(w, "data: {\"n\":%d}\n\n", n); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Gateway levels.

type chaosLevels struct {
	goroutines int
	heap       float64 // bytes in use
}

func (l chaosLevels) String() string {
	return fmt.Sprintf("%d goroutines, heap %.1f MiB", l.goroutines, l.heap/(1<<20))
}

func chaosMeasure(t *testing.T, g *Gateway) chaosLevels {
	t.Helper()
	return chaosLevels{goroutines(t, g), heapInuse(t, g)}
}

// chaosWarmMeasure sends tools/list to url from 4 clients at once, twice,
// so that the gateway's pools of upstream connections are as warm as
// under the load, closes the clients' connections and measures the
// gateway's levels before the load.
func chaosWarmMeasure(t *testing.T, g *Gateway, url string, hdr map[string]string) chaosLevels {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	for round := 0; round < 2; round++ {
		var wg sync.WaitGroup
		rs := make([]chaosResult, 4)
		for i := range rs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rs[i] = chaosCall(c, url, int(chaosSeq.Add(1)), "tools/list", "", nil, hdr)
			}()
		}
		wg.Wait()
		for _, r := range rs {
			if r.status != http.StatusOK {
				t.Fatalf("warm-up: %v", r)
			}
		}
	}
	c.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	return chaosMeasure(t, g)
}

// chaosSettle waits (at most 15 s) until the gateway is back near its
// levels before the load: at most 10 goroutines more than before, and a
// heap in use of at most 1.5 times its level under load plus 10 MiB (as
// TestSoak; a heap is only collected as allocation goes on). It returns
// the last levels.
func chaosSettle(t *testing.T, g *Gateway, before, underLoad chaosLevels) chaosLevels {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		now := chaosMeasure(t, g)
		if now.goroutines <= before.goroutines+10 && now.heap <= underLoad.heap*1.5+10<<20 {
			return now
		}
		if time.Now().After(deadline) {
			t.Errorf("growth after the load: %v, before %v, under load %v", now, before, underLoad)
			return now
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// A fault-injecting MCP backend.

// Faults of chaosBackend.
const (
	chaosPass  int32 = iota
	chaosHang        // every POST waits for Release (or for the gateway to give up)
	chaosReset       // every other POST gets a TCP reset (a tools/call after running)
)

// chaosBackend is a resBackend (stateless, JSON responses) behind a fault
// switch. It answers every GET with an endless SSE stream (chaosSSE), so
// streams can go to the same server as the calls. It records each arrival
// of every JSON-RPC id with the fault it got.
type chaosBackend struct {
	*resBackend
	URL string

	mode   atomic.Int32
	resets atomic.Int64

	mu        sync.Mutex
	release   chan struct{}
	arrivals  map[int][]string // id → "ok", "hang", "reset" or "ran+reset", per arrival
	cancelled map[int]bool     // ids whose hang ended with the gateway giving up
}

func newChaosBackend(t *testing.T) *chaosBackend {
	b := &chaosBackend{resBackend: newResBackendHandler(resBackendOpts{JSONResponse: true}),
		arrivals: map[int][]string{}, cancelled: map[int]bool{}}
	b.URL = serve(t, b)
	t.Cleanup(b.Release)
	return b
}

// Hang makes every POST from now on wait until Release.
func (b *chaosBackend) Hang() {
	b.mu.Lock()
	if b.release == nil {
		b.release = make(chan struct{})
	}
	b.mu.Unlock()
	b.mode.Store(chaosHang)
}

// Release ends every fault; the POSTs that hang go on normally.
func (b *chaosBackend) Release() {
	b.mode.Store(chaosPass)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.release != nil {
		close(b.release)
		b.release = nil
	}
}

// Reset makes every other POST from now on a TCP reset, until Release.
func (b *chaosBackend) Reset() { b.mode.Store(chaosReset) }

// Cancelled reports whether the request id hung until the gateway gave up
// on it.
func (b *chaosBackend) Cancelled(id int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cancelled[id]
}

// Arrivals returns the faults of each arrival of id.
func (b *chaosBackend) Arrivals(id int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.arrivals[id]...)
}

func (b *chaosBackend) arrive(id int, fault string) {
	b.mu.Lock()
	b.arrivals[id] = append(b.arrivals[id], fault)
	b.mu.Unlock()
}

func (b *chaosBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		chaosSSE().ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var m struct {
		ID     int    `json:"id"`
		Method string `json:"method"`
	}
	_ = json.Unmarshal(body, &m)
	r.Body = io.NopCloser(bytes.NewReader(body))
	switch b.mode.Load() {
	case chaosHang:
		b.mu.Lock()
		rel := b.release
		b.mu.Unlock()
		if rel != nil {
			b.arrive(m.ID, "hang")
			select {
			case <-rel:
			case <-r.Context().Done():
				b.mu.Lock()
				b.cancelled[m.ID] = true
				b.mu.Unlock()
				return
			}
			b.resBackend.ServeHTTP(w, r)
			return
		}
	case chaosReset:
		if b.resets.Add(1)%2 == 1 {
			if m.Method == "tools/call" {
				// It ran; the gateway cannot tell.
				b.arrive(m.ID, "ran+reset")
				b.resBackend.h.ServeHTTP(&resDiscardWriter{h: http.Header{}}, r)
			} else {
				b.arrive(m.ID, "reset")
			}
			resReset(w)
			return
		}
	}
	b.arrive(m.ID, "ok")
	b.resBackend.ServeHTTP(w, r)
}

// chaosBreaker is the circuit breaker of the chaos backends: short
// ejections, so that recovery fits in a test.
const chaosBreaker = "circuitBreaker: {consecutiveFailures: 3, baseEjectionTime: 500ms, maxEjectionTime: 1s}"

// chaosEventsRoute renders a route /events → backend (GETs only: the
// streams), with policies (items indented 14 spaces, "" for none).
func chaosEventsRoute(backend, policies string) string {
	pol := "[]"
	if policies != "" {
		pol = "\n" + strings.TrimRight(policies, "\n")
	}
	return fmt.Sprintf(`          - name: events
            match:
              path:
                prefix: /events
            policies: %s
            backends:
              - name: events-backend
                type: mcp-http
                address: %s
                mcp: {endpoint: /events}
`, pol, backend)
}

// ---------------------------------------------------------------------------
// The MCP backend is killed and restarted.

// TestChaosBackendKilledAndRestarted runs steady tools/call load (every
// call with its own key) while the MCP backend is killed and restarted on
// the same address. Expected (docs/operations.md):
//
//   - while it is down, calls fail fast with 502 (connect failure) or 503
//     (circuit open), as JSON-RPC errors; nothing hangs;
//   - within 2 s of the restart (baseEjectionTime 500ms), calls succeed again;
//   - no tools/call runs twice (connect failures are retried, resets of a
//     tools/call are not);
//   - streams through the gateway to other backends stay open; streams to
//     the killed backend end (cleanly or not) within 2 s of the kill;
//   - afterwards the gateway's goroutines return to their level before.
func TestChaosBackendKilledAndRestarted(t *testing.T) {
	be := newResBackendHandler(resBackendOpts{JSONResponse: true})
	mux := http.NewServeMux()
	mux.Handle("GET /", chaosSSE())
	mux.Handle("/", be)
	addr := reserveAddr(t)
	stop := startKillable(t, addr, mux)
	other := serve(t, chaosSSE())

	cfg := NewPorts(t)
	cfg.Listeners = fmt.Sprintf(`      - name: mcp
        routes:
          - name: chaos
            match:
              path:
                prefix: /mcp
            policies:
              - type: retry
                retry:
                  attempts: 2
                  retryOn: [connect-failure, reset, 5xx]
                  backoff: {baseInterval: 20ms, maxInterval: 50ms}
              - type: timeout
                timeout: {request: 5s}
            backends:
              - name: chaos-backend
                type: mcp-http
                address: http://%s
                %s
                mcp: {endpoint: /mcp}
          - name: doomed
            match:
              path:
                prefix: /doomed
            policies: []
            backends:
              - name: doomed-backend
                type: mcp-http
                address: http://%[1]s
                mcp: {endpoint: /doomed}
%[3]s`, addr, chaosBreaker, chaosEventsRoute(other, ""))
	g := StartGateway(t, cfg)
	before := chaosWarmMeasure(t, g, g.URL("/mcp"), nil)

	// Streams to the backend that is killed: they cannot survive it.
	doomed := openChaosStreams(t, g.URL("/doomed"), nil, 2)
	load := startChaosLoad(t, chaosLoadConfig{URL: g.URL("/mcp"), Prefix: "k", Streams: 4, StreamURL: g.URL("/events")})
	time.Sleep(time.Second)
	underLoad := chaosMeasure(t, g)
	killedAt := time.Now()
	stop()
	time.Sleep(1500 * time.Millisecond)
	restartedAt := time.Now()
	stop = startKillable(t, addr, mux)
	defer stop()
	time.Sleep(3 * time.Second)
	results := load.Stop()
	streams := load.CloseStreams()
	endedAt, endErrs := doomed.ended()
	doomed.Close()

	var ok, failedDown int
	fails := &chaosFails{t: t}
	for _, r := range results {
		switch {
		case r.end().Before(killedAt) || r.at.After(restartedAt.Add(2*time.Second)):
			// Finished before the kill, or started 2 s after the restart.
			if r.status != 200 {
				fails.add("call outside the outage (at %v from the kill): %v", r.at.Sub(killedAt), r)
			} else {
				ok++
			}
		case r.at.After(killedAt.Add(100*time.Millisecond)) && r.at.Before(restartedAt):
			if r.status == 200 {
				break
			}
			failedDown++
			if r.status != 502 && r.status != 503 {
				fails.add("call during the outage: %v", r)
			} else if err := chaosRPCError(r, r.status); err != nil {
				fails.add("call during the outage: %v: %v", r, err)
			}
			if r.took > 3*time.Second {
				fails.add("call during the outage took %v", r.took)
			}
		}
	}
	fails.done()
	if ok < 20 || failedDown == 0 {
		t.Fatalf("load did not exercise both phases: %d ok, %d failed while down", ok, failedDown)
	}
	chaosNoDuplicates(t, be, results)
	if m := scrape(t, g.AdminURL("/metrics")); !regexp.MustCompile(`agentgateway_circuit_breaker_ejections_total\{backend="chaos-backend",route="chaos"\} [1-9]`).MatchString(m) {
		t.Error("no ejection counted")
	}
	recovery, stayed := chaosRecovery(results, restartedAt)
	if recovery < 0 || recovery > 2*time.Second || !stayed {
		t.Errorf("recovery %v after the restart (stayed up: %v), want within 2s", recovery, stayed)
	}
	wantChaosStreamsOpen(t, streams, 4)
	for i, at := range endedAt {
		if at.IsZero() || at.Before(killedAt) || at.After(killedAt.Add(2*time.Second)) {
			t.Errorf("stream %d to the killed backend ended %v after the kill (%v), want within 2s", i, at.Sub(killedAt), endErrs[i])
		}
	}
	after := chaosSettle(t, g, before, underLoad)
	t.Logf("%d calls: %s; %d ok outside the outage, %d failed fast while down; recovery %v after the restart; streams %+v; before %v, under load %v, after %v",
		len(results), chaosStatuses(results), ok, failedDown, recovery.Round(time.Millisecond), streams, before, underLoad, after)
}

// chaosNoDuplicates checks that no tools/call key ran twice and that every
// one answered 200 ran exactly once.
func chaosNoDuplicates(t *testing.T, be *resBackend, results []chaosResult) {
	t.Helper()
	fails := &chaosFails{t: t}
	for _, r := range results {
		if r.key == "" {
			continue
		}
		n := be.Execs(r.key)
		if n > 1 {
			fails.add("%s ran %d times (%v)", r.key, n, r)
		}
		if r.status == 200 && n != 1 {
			fails.add("%s answered 200 but ran %d times", r.key, n)
		}
	}
	fails.done()
}

// reserveAddr returns a free loopback address.
func reserveAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startKillable serves h on addr until the returned stop, which closes the
// listener and every connection at once (a crashed process).
func startKillable(t *testing.T, addr string, h http.Handler) func() {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	var once sync.Once
	stop := func() { once.Do(func() { _ = srv.Close() }) }
	t.Cleanup(stop)
	return stop
}

var goroutinesRE = regexp.MustCompile(`(?m)^go_goroutines (\d+)`)

func goroutines(t *testing.T, g *Gateway) int {
	t.Helper()
	m := goroutinesRE.FindStringSubmatch(scrape(t, g.AdminURL("/metrics")))
	if m == nil {
		t.Fatal("no go_goroutines")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// ---------------------------------------------------------------------------
// The backend hangs.

// TestChaosBackendHang: for 3.5 s the MCP backend accepts every POST and
// answers none (its handlers block until released), under steady
// tools/call load. Expected (docs/operations.md):
//
//   - a call the backend holds gets 504 when the route's timeout (1s) runs
//     out, as a JSON-RPC error echoing its id, and the backend sees its
//     request cancelled;
//   - a timeout is a circuit-breaker failure (as Envoy's consecutive
//     gateway failures), so after 3 of them the backend is ejected and
//     calls get a fast 503 with Retry-After, as JSON-RPC errors, without
//     reaching the backend; half-open probes time out and re-eject it;
//   - no tools/call reaches the backend twice: a timed-out call is not
//     retried;
//   - once the backend answers again, calls succeed within the longest
//     ejection (maxEjectionTime 1s) plus one probe;
//   - streams to the same backend server stay open: the hang is in the
//     tool handlers, not the server;
//   - goroutines and heap return to their level before the load.
func TestChaosBackendHang(t *testing.T) {
	be := newChaosBackend(t)
	cfg := NewPorts(t)
	cfg.Listeners = fmt.Sprintf(`      - name: mcp
        routes:
          - name: hang
            match:
              path:
                prefix: /mcp
            policies:
              - type: retry
                retry:
                  attempts: 3
                  retryOn: [connect-failure, reset, 5xx]
                  backoff: {baseInterval: 10ms, maxInterval: 50ms}
              - type: timeout
                timeout: {request: 1s}
            backends:
              - name: hang-backend
                type: mcp-http
                address: %s
                %s
                mcp: {endpoint: /mcp}
%s`, be.URL, chaosBreaker, chaosEventsRoute(be.URL, ""))
	g := StartGateway(t, cfg)
	before := chaosWarmMeasure(t, g, g.URL("/mcp"), nil)

	load := startChaosLoad(t, chaosLoadConfig{URL: g.URL("/mcp"), Prefix: "hang", Streams: 4, StreamURL: g.URL("/events")})
	time.Sleep(time.Second)
	underLoad := chaosMeasure(t, g)
	hungAt := time.Now()
	be.Hang()
	// Not a multiple of the timeout, so that the release does not come
	// with a round of timeouts.
	time.Sleep(3500 * time.Millisecond)
	releasedAt := time.Now()
	be.Release()
	time.Sleep(3 * time.Second)
	results := load.Stop()
	streams := load.CloseStreams()

	var timedOut, heldOK, ejectedFast int
	fails := &chaosFails{t: t}
	for _, r := range results {
		arr := be.Arrivals(r.id)
		switch {
		case len(arr) > 1:
			fails.add("%v reached the backend %d times: %v", r, len(arr), arr)
		case r.end().Before(hungAt) || r.at.After(releasedAt.Add(1500*time.Millisecond)):
			if r.status != 200 {
				fails.add("call outside the hang (at %v from it): %v", r.at.Sub(hungAt), r)
			}
		case len(arr) == 1 && arr[0] == "hang":
			// Held by the backend: 504 at the timeout, or 200 if the
			// release came first.
			switch r.status {
			case 200:
				heldOK++
			case 504:
				timedOut++
				if err := chaosRPCError(r, 504); err != nil {
					fails.add("%v: %v", r, err)
				}
				if r.took < 900*time.Millisecond || r.took > 2500*time.Millisecond {
					fails.add("504 after %v, want the 1s route timeout", r.took)
				}
				// Unless the release and the timeout came together.
				if !be.Cancelled(r.id) && (r.end().Before(releasedAt.Add(-100*time.Millisecond)) || r.end().After(releasedAt.Add(100*time.Millisecond))) {
					fails.add("%v: the backend did not see its request cancelled", r)
				}
			default:
				fails.add("call the backend held: %v, want 504 (or 200 after the release)", r)
			}
		case len(arr) == 0 && r.status == 503:
			// Ejected: refused at the gateway.
			ejectedFast++
			if err := chaosRPCError(r, 503); err != nil {
				fails.add("%v: %v", r, err)
			}
			if r.took > 500*time.Millisecond {
				fails.add("503 while ejected took %v; want it fast", r.took)
			}
		default:
			if r.status != 200 {
				fails.add("call the backend answered: %v (arrivals %v)", r, arr)
			}
		}
	}
	fails.done()
	// 4 workers, 3.5 s of hang, 1 s timeout.
	if timedOut < 3 {
		t.Errorf("hang not exercised: %d timed out", timedOut)
	}
	if n := chaosMetric(t, g, "agentgateway_circuit_breaker_ejections_total", `{backend="hang-backend",route="hang"}`); n < 1 || ejectedFast == 0 {
		t.Errorf("backend ejected %v times, %d calls refused fast; timeouts are breaker failures", n, ejectedFast)
	}
	chaosNoDuplicates(t, be.resBackend, results)
	recovery, stayed := chaosRecovery(results, releasedAt)
	if recovery < 0 || recovery > 1500*time.Millisecond || !stayed {
		t.Errorf("recovery %v after the release (stayed up: %v), want within 1.5s", recovery, stayed)
	}
	wantChaosStreamsOpen(t, streams, 4)
	after := chaosSettle(t, g, before, underLoad)
	wantChaosClientCloseNotBlamed(t, g)
	t.Logf("%d calls: %s; during the hang %d × 504 (backend cancelled), %d held and answered after the release; recovery %v after the release; streams %+v; before %v, under load %v, after %v",
		len(results), chaosStatuses(results), timedOut, heldOK, recovery.Round(time.Millisecond), streams, before, underLoad, after)
}

// ---------------------------------------------------------------------------
// The backend resets connections.

// TestChaosBackendResets: for 3 s the MCP backend answers every other POST
// with a TCP reset (a tools/call after running it), under a steady load
// of tools/call and tools/list. Expected (docs/operations.md):
//
//   - a reset tools/call is not retried (it may have run): 502, as a
//     JSON-RPC error echoing its id; it ran exactly once;
//   - a reset tools/list is retried and, when a later attempt is not reset,
//     answered 200;
//   - if resets come in a row, the breaker may eject the backend: fast 503;
//   - after the window, calls succeed within one ejection (1s);
//   - streams to the same backend server stay open: their connections are
//     not the ones reset;
//   - goroutines and heap return to their level before the load.
func TestChaosBackendResets(t *testing.T) {
	be := newChaosBackend(t)
	cfg := NewPorts(t)
	cfg.Listeners = fmt.Sprintf(`      - name: mcp
        routes:
          - name: resets
            match:
              path:
                prefix: /mcp
            policies:
              - type: retry
                retry:
                  attempts: 3
                  retryOn: [connect-failure, reset, 5xx]
                  backoff: {baseInterval: 10ms, maxInterval: 50ms}
              - type: timeout
                timeout: {request: 5s}
            backends:
              - name: resets-backend
                type: mcp-http
                address: %s
                circuitBreaker: {consecutiveFailures: 5, baseEjectionTime: 500ms, maxEjectionTime: 1s}
                mcp: {endpoint: /mcp}
%s`, be.URL, chaosEventsRoute(be.URL, ""))
	g := StartGateway(t, cfg)
	before := chaosWarmMeasure(t, g, g.URL("/mcp"), nil)

	load := startChaosLoad(t, chaosLoadConfig{URL: g.URL("/mcp"), Prefix: "reset", ListEvery: 2, Streams: 4, StreamURL: g.URL("/events")})
	time.Sleep(time.Second)
	underLoad := chaosMeasure(t, g)
	resetAt := time.Now()
	be.Reset()
	time.Sleep(3 * time.Second)
	endedAt := time.Now()
	be.Release()
	time.Sleep(3 * time.Second)
	results := load.Stop()
	streams := load.CloseStreams()

	var callsReset, listsRetriedOK, listsFailed, ejected int
	fails := &chaosFails{t: t}
	for _, r := range results {
		arr := be.Arrivals(r.id)
		if r.end().Before(resetAt) || r.at.After(endedAt.Add(1500*time.Millisecond)) {
			if r.status != 200 {
				fails.add("call outside the resets (at %v from them): %v", r.at.Sub(resetAt), r)
			}
			continue
		}
		last := ""
		if len(arr) > 0 {
			last = arr[len(arr)-1]
		}
		switch {
		case len(arr) == 0:
			ejected++
			if err := chaosRPCError(r, 503); err != nil {
				fails.add("call that never reached the backend: %v: %v", r, err)
			}
		case r.method == "tools/call" && len(arr) > 1:
			fails.add("%v reached the backend %d times: %v", r, len(arr), arr)
		case r.method == "tools/call" && last == "ran+reset":
			callsReset++
			if err := chaosRPCError(r, 502); err != nil {
				fails.add("reset tools/call: %v: %v", r, err)
			}
		case r.method == "tools/list" && last == "reset":
			// Reset on every attempt (502), or a retry refused (503).
			listsFailed++
			want := 502
			if len(arr) < 3 {
				want = 503
			}
			if err := chaosRPCError(r, want); err != nil {
				fails.add("tools/list reset on each of its %d attempts: %v: %v", len(arr), r, err)
			}
		case last == "ok":
			if r.status != 200 {
				fails.add("call the backend answered: %v (arrivals %v)", r, arr)
			}
			if r.method == "tools/list" && len(arr) > 1 {
				listsRetriedOK++
			}
		default:
			fails.add("%v: arrivals %v", r, arr)
		}
	}
	fails.done()
	if callsReset == 0 || listsRetriedOK == 0 {
		t.Errorf("resets not exercised: %d tools/call reset, %d tools/list retried to a 200", callsReset, listsRetriedOK)
	}
	chaosNoDuplicates(t, be.resBackend, results)
	recovery, stayed := chaosRecovery(results, endedAt)
	if recovery < 0 || recovery > 1500*time.Millisecond || !stayed {
		t.Errorf("recovery %v after the resets (stayed up: %v), want within 1.5s", recovery, stayed)
	}
	wantChaosStreamsOpen(t, streams, 4)
	after := chaosSettle(t, g, before, underLoad)
	wantChaosClientCloseNotBlamed(t, g)
	t.Logf("%d calls: %s; during the resets %d tools/call 502 (ran once), %d tools/list retried to 200, %d tools/list failed, %d ejected; recovery %v; streams %+v; before %v, under load %v, after %v",
		len(results), chaosStatuses(results), callsReset, listsRetriedOK, listsFailed, ejected, recovery.Round(time.Millisecond), streams, before, underLoad, after)
}
