package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// workload is one request shape the paths are driven with.
type workload struct {
	name     string
	urlPath  string // path and query, appended to a path's base URL
	body     string
	mcp      bool   // sends MCP-Protocol-Version
	sub      string // token subject
	wantCT   string // response media type
	minBytes int    // smallest acceptable response body
	session  string // Mcp-Session-Id to send, if any
	// idBody, if set, is body with %d for the JSON-RPC id: each request
	// gets its own id, as on a real session (an MCP server refuses a
	// second request with an id already in flight on the session).
	idBody string
}

// nextID numbers the requests of idBody workloads.
var nextID atomic.Int64

var workloads = []workload{
	{name: varJSON1K, urlPath: "/mcp?r=" + varJSON1K, body: mcpCallBody, mcp: true, sub: subWeather, wantCT: "application/json", minBytes: 1024},
	{name: varSSE1K, urlPath: "/mcp?r=" + varSSE1K, body: mcpCallBody, mcp: true, sub: subWeather, wantCT: "text/event-stream", minBytes: 1000},
	{name: varJSON16K, urlPath: "/mcp?r=" + varJSON16K, body: mcpCallBody, mcp: true, sub: subWeather, wantCT: "application/json", minBytes: 16 * 1024},
	{name: varA2A, urlPath: "/agents/weather-agent-v6?r=" + varA2A, body: a2aSendBody, sub: subPlanning, wantCT: "application/json", minBytes: 1024},
}

func (w workload) headers(token string) map[string]string {
	h := map[string]string{
		"Content-Type": "application/json",
		"Accept":       "application/json, text/event-stream",
	}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	if w.mcp {
		h["MCP-Protocol-Version"] = "2025-06-18"
	}
	if w.session != "" {
		h["Mcp-Session-Id"] = w.session
	}
	return h
}

var benchClient = &http.Client{
	Timeout: 10 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns:        2048,
		MaxIdleConnsPerHost: 2048,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	},
}

func newReq(url string, w workload, token string) *http.Request {
	body := w.body
	if w.idBody != "" {
		body = fmt.Sprintf(w.idBody, nextID.Add(1))
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range w.headers(token) {
		req.Header.Set(k, v)
	}
	return req
}

// probe sends one request and checks status, media type and size.
func probe(url string, w workload, token string) error {
	resp, err := benchClient.Do(newReq(url, w, token))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %.300s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, w.wantCT) {
		return fmt.Errorf("content-type %q, want %s", ct, w.wantCT)
	}
	if len(b) < w.minBytes {
		return fmt.Errorf("body %d bytes, want ≥ %d", len(b), w.minBytes)
	}
	return nil
}

// closedRes is the outcome of a closed-loop cell.
type closedRes struct {
	rps      float64
	reqs     int64
	errs     int64
	p50, p99 time.Duration
	detail   string // what the errors were
}

// --- wrk ---

func wrkScript(dir string, w workload, token string) (string, error) {
	var b strings.Builder
	b.WriteString("wrk.method = \"POST\"\n")
	fmt.Fprintf(&b, "wrk.body = [==[%s]==]\n", w.body)
	keys := make([]string, 0)
	h := w.headers(token)
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "wrk.headers[%q] = %q\n", k, h[k])
	}
	if w.idBody != "" {
		// A distinct id per request: thread number (set in the main
		// state by setup) times 10^9 plus a per-thread counter.
		fmt.Fprintf(&b, `local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format([==[%s]==], tid * 1000000000 + n))
end
`, w.idBody)
	}
	p := filepath.Join(dir, "wrk-"+w.name+"-"+strconv.Itoa(len(token))+".lua")
	return p, os.WriteFile(p, []byte(b.String()), 0o644)
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reReqs    = regexp.MustCompile(`(\d+) requests in`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reLat     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

func runWrk(wrk, script, url string, conns int, d time.Duration) (closedRes, error) {
	threads := min(runtime.NumCPU(), conns)
	secs := max(1, int(d.Round(time.Second)/time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, wrk, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", secs), "--timeout", "5s", "--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		return closedRes{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	s := string(out)
	var r closedRes
	m := reRPS.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("wrk output without Requests/sec:\n%s", s)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m = reReqs.FindStringSubmatch(s); m != nil {
		r.reqs, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m = reNon2xx.FindStringSubmatch(s); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		r.errs += n
		r.detail = strings.TrimSpace(m[0])
	}
	if m = reSockErr.FindStringSubmatch(s); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			r.errs += n
		}
		r.detail = strings.TrimSpace(r.detail + " " + m[0])
	}
	for _, m := range reLat.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9}[m[3]]
		dur := time.Duration(v * unit)
		if m[1] == "50" {
			r.p50 = dur
		} else {
			r.p99 = dur
		}
	}
	return r, nil
}

// runGoClosed is the closed-loop fallback when wrk is missing: conns
// goroutines, each sending its next request when the previous one ends.
func runGoClosed(url string, w workload, token string, conns int, d time.Duration) closedRes {
	var reqs, errs atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				resp, err := benchClient.Do(newReq(url, w, token))
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs.Add(1)
				}
				reqs.Add(1)
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lats)
	return closedRes{rps: float64(reqs.Load()) / el.Seconds(), reqs: reqs.Load(), errs: errs.Load(),
		p50: pct(lats, 0.50), p99: pct(lats, 0.99)}
}

func pct(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s))*q+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}

// --- open loop ---

type openRes struct {
	rate            int
	sent, errs      int64
	p50, p99, p999  time.Duration
	achievedRPS     float64
	dispatcherLagMS float64 // worst lag of the schedule behind the clock
}

// runOpen sends requests on a fixed schedule (request i at start+i/rate)
// over a fixed pool of connections (like wrk2): workers take the next
// scheduled request as soon as they are free, whether or not the schedule
// is behind. Latency counts from the scheduled time, so a stalled proxy
// cannot hide its queue (no coordinated omission). A request still queued
// 10 s after its time is dropped and counted as an error, which bounds the
// cell when a path cannot sustain the rate.
func runOpen(url string, w workload, token string, rate int, d time.Duration, conns int) openRes {
	n := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	const giveUp = 10 * time.Second
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: giveUp}
	// Open the pool before the clock starts.
	var warm sync.WaitGroup
	for i := 0; i < conns; i++ {
		warm.Add(1)
		go func() {
			defer warm.Done()
			if resp, err := client.Do(newReq(url, w, token)); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	warm.Wait()

	lats := make([]time.Duration, n)
	ok := make([]bool, n)
	var errs atomic.Int64
	type job struct {
		i  int
		at time.Time
	}
	jobs := make(chan job, n)
	var wg sync.WaitGroup
	for k := 0; k < conns; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if time.Since(j.at) > giveUp {
					errs.Add(1)
					continue
				}
				resp, err := client.Do(newReq(url, w, token))
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs.Add(1)
					continue
				}
				lats[j.i] = time.Since(j.at)
				ok[j.i] = true
			}
		}()
	}
	var worstLag time.Duration
	start := time.Now().Add(10 * time.Millisecond)
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		} else if -wait > worstLag {
			worstLag = -wait
		}
		jobs <- job{i, at}
	}
	close(jobs)
	wg.Wait()
	el := time.Since(start)
	var got []time.Duration
	for i, l := range lats {
		if ok[i] {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	return openRes{rate: rate, sent: int64(n), errs: errs.Load(), p50: pct(got, 0.50), p99: pct(got, 0.99),
		p999: pct(got, 0.999), achievedRPS: float64(len(got)) / el.Seconds(), dispatcherLagMS: float64(worstLag) / 1e6}
}

// --- idle SSE streams ---

type streamRes struct {
	n, opened                       int
	rssBase, rssOpen, rssClosed     int64
	memBase, memOpen, memClosed     float64 // Go heap + stack in use, from /metrics
	gorBase, gorOpen, gorClosed     float64
	openTime                        time.Duration
	rssReturned, goroutinesReturned bool
	memReturned                     bool
	wait, settledAfter              time.Duration // settledAfter: from close to all back (0: never)
	err                             error
}

// openStream opens one MCP GET stream (its own session) and waits for the
// backend's opening comment, so the stream is established end to end.
func openStream(addr, token string, i int) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	req := fmt.Sprintf("GET /mcp HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nAuthorization: Bearer %s\r\nMCP-Protocol-Version: 2025-06-18\r\nMcp-Session-Id: bench-session-%d\r\n\r\n", addr, token, i)
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 1024)
	status, err := br.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, err
	}
	if !strings.Contains(status, " 200 ") {
		c.Close()
		return nil, fmt.Errorf("stream: %s", strings.TrimSpace(status))
	}
	// Headers, then the first chunk holding ": open".
	var seen bytes.Buffer
	for !bytes.Contains(seen.Bytes(), []byte(": open")) {
		line, err := br.ReadSlice('\n')
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("stream: %v after %q", err, seen.String())
		}
		seen.Write(line)
		if seen.Len() > 8192 {
			c.Close()
			return nil, fmt.Errorf("stream: no opening event in %q", seen.String())
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func runStreams(addr, metricsURL string, pids []int, token string, n int, settle, wait time.Duration, burst func()) streamRes {
	r := streamRes{n: n}
	goroutines := func() float64 {
		v, err := scrapeGauge(metricsURL, "go_goroutines")
		if err != nil && r.err == nil {
			r.err = err
		}
		return v
	}
	goMem := func() float64 {
		h, err1 := scrapeGauge(metricsURL, "go_memstats_heap_inuse_bytes")
		st, err2 := scrapeGauge(metricsURL, "go_memstats_stack_inuse_bytes")
		if err1 != nil || err2 != nil {
			return 0
		}
		return h + st
	}
	time.Sleep(settle)
	r.rssBase, r.gorBase, r.memBase = rssOf(pids), goroutines(), goMem()

	conns := make([]net.Conn, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var opened atomic.Int64
	t0 := time.Now()
	deadline := t0.Add(90 * time.Second)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || time.Now().After(deadline) {
					return
				}
				c, err := openStream(addr, token, i)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				conns[i] = c
				opened.Add(1)
			}
		}()
	}
	wg.Wait()
	r.openTime = time.Since(t0)
	r.opened = int(opened.Load())
	if e, ok := firstErr.Load().(error); ok {
		r.err = e
	}
	time.Sleep(settle)
	r.rssOpen, r.gorOpen, r.memOpen = rssOf(pids), goroutines(), goMem()

	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	// Goroutines go at once. Freed stacks and buffers count as free only
	// after a GC cycle, and return to the kernel after that through the
	// runtime's background scavenger. An idle gateway whose heap just grew
	// to hold the streams has no GC until the runtime's 2-minute forced one:
	// a short burst of requests (burst) stands for ordinary traffic, and
	// wait should cover the forced GC for a full answer.
	closedAt := time.Now()
	end := closedAt.Add(wait)
	bursted := false
	for time.Now().Before(end) {
		if !bursted && time.Until(end) < wait*2/3 {
			burst()
			bursted = true
		}
		r.gorClosed = goroutines()
		r.rssClosed = rssOf(pids)
		r.memClosed = goMem()
		r.goroutinesReturned = r.gorClosed <= r.gorBase+10
		grown := r.rssOpen - r.rssBase
		r.rssReturned = r.rssClosed <= r.rssBase+max(grown/5, 4<<20)
		r.memReturned = r.memOpen == 0 || r.memClosed <= r.memBase+max((r.memOpen-r.memBase)/5, 4<<20)
		if r.goroutinesReturned && r.rssReturned && r.memReturned {
			r.settledAfter = time.Since(closedAt)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return r
}
