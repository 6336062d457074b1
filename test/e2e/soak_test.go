package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak sends a mixed MCP tools/call and A2A message/send load through
// the seed's full chain (jwt-authn, mcp-authz, rate-limit, timeout, retry;
// jwt-authn, a2a-authz), with SSE streams held open, for SOAK_DURATION
// (default 2m, as in make test: the issue asks CI for a few minutes;
// `make soak` runs 10m). It fails on any error, on a
// duplicate tool execution, and on goroutine or heap growth once the load
// is over. It logs the first and last quarters' p99 but does not assert on
// them: latency on a shared CI machine is noise, and timing targets live in
// make bench. A leak that would slow the gateway down shows up as the
// growth this test does check.
func TestSoak(t *testing.T) {
	dur := 2 * time.Minute
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
		dur = d
	}
	iss := rlStartIssuer(t)
	mcpBe := newResBackend(t, resBackendOpts{JSONResponse: true})
	agentURL, _ := startAgent03(t, "weather-agent-v6", &taskExecutor{gate: make(chan struct{})})
	streamBe := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fl := http.NewResponseController(w)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := io.WriteString(w, "data: {}\n\n"); err != nil {
				return
			}
			_ = fl.Flush()
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	}))
	jwt := iss.jwtAuthn()
	cfg := NewPorts(t)
	cfg.Listeners = MCPListener("agent-to-mcp-tools", "/mcp", mcpBe.URL, "/mcp", "http", jwt+fmt.Sprintf(`              - type: mcp-authz
                mcp:
                  rules:
                    - principal: "%s"
                      allowedTools: [echo]
              - type: rate-limit
                rateLimit:
                  descriptors:
                    - key: tool-name
                      value: echo
                      rateLimit:
                        requestsPerMinute: 1000000
              - type: timeout
                timeout: {request: 30s, idle: 10s}
              - type: retry
                retry:
                  attempts: 3
                  retryOn: [5xx, reset, connect-failure]
`, rlWeather)) + strings.Replace(MCPListener("streams", "/streams", streamBe, "/", "http", jwt), "      - name: mcp\n", "      - name: streams-listener\n", 1) + fmt.Sprintf(`      - name: a2a
        routes:
          - name: agent-to-agent
            match:
              path:
                prefix: /agents
            policies:
%s              - type: a2a-authz
                a2a:
                  rules:
                    - source: "%s"
                      target: weather-agent-v6
                      allowed: true
            backends:
              - name: weather-agent-backend
                address: %s
`, jwt, a2aPlanning, agentURL)
	g := StartGateway(t, cfg)

	weatherTok := iss.token(t, rlWeather)
	planningTok := iss.token(t, a2aPlanning)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()

	// SSE streams held open for the whole run.
	ctx, cancel := context.WithCancel(context.Background())
	var streams sync.WaitGroup
	var streamErrs atomic.Int64
	for i := 0; i < 20; i++ {
		streams.Add(1)
		go func() {
			defer streams.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.URL("/streams"), nil)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Authorization", "Bearer "+weatherTok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				streamErrs.Add(1)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				streamErrs.Add(1)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
		}()
	}

	start := time.Now()
	type sample struct {
		at  time.Duration
		lat time.Duration
	}
	var (
		mu      sync.Mutex
		samples []sample
		errs    []string
		seq     atomic.Int64
	)
	warmGoroutines, warmHeap := 0, 0.0
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := 0; n < 1_000_000 && time.Since(start) < dur; n++ {
				id := int(seq.Add(1))
				var (
					status int
					body   string
					t0     = time.Now()
				)
				if id%2 == 0 {
					key := "soak" + strconv.Itoa(id)
					b, hdr := resRequest(id, "tools/call", "echo", resToolArgs{Key: key, Text: key}, false, "")
					hdr["Authorization"] = "Bearer " + weatherTok
					r, err := resDo(client, http.MethodPost, g.URL("/mcp"), b, hdr)
					if err == nil {
						status, body = r.Status, string(r.Body)
					}
				} else {
					req, _ := http.NewRequest(http.MethodPost, g.URL("/agents/weather-agent-v6"), strings.NewReader(a2aSend))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+planningTok)
					if resp, err := client.Do(req); err == nil {
						bb, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						status, body = resp.StatusCode, string(bb)
					}
				}
				lat := time.Since(t0)
				mu.Lock()
				samples = append(samples, sample{time.Since(start), lat})
				if status != 200 {
					errs = append(errs, fmt.Sprintf("request %d: %d %.200s", id, status, body))
				}
				mu.Unlock()
			}
		}(w)
	}
	// Baseline once the load has warmed up.
	time.Sleep(dur / 4)
	warmGoroutines, warmHeap = goroutines(t, g), heapInuse(t, g)
	wg.Wait()
	cancel()
	streams.Wait()
	client.CloseIdleConnections()

	if len(errs) > 0 {
		t.Errorf("%d errors of %d requests; first: %s", len(errs), len(samples), errs[0])
	}
	if n := streamErrs.Load(); n > 0 {
		t.Errorf("%d streams failed", n)
	}
	for id := int64(2); id <= seq.Load(); id += 2 {
		if n := mcpBe.Execs("soak" + strconv.FormatInt(id, 10)); n > 1 {
			t.Errorf("tool call %d ran %d times", id, n)
		}
	}
	// Latency drift: p99 of the first and last quarters.
	p99 := func(from, to time.Duration) time.Duration {
		var ls []time.Duration
		for _, s := range samples {
			if s.at >= from && s.at < to {
				ls = append(ls, s.lat)
			}
		}
		if len(ls) == 0 {
			return 0
		}
		sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
		return ls[len(ls)*99/100]
	}
	// Reported, not asserted: see the doc comment.
	first, last := p99(0, dur/4), p99(dur*3/4, dur+time.Minute)
	// Nothing retained once the load and the streams are gone.
	deadline := time.Now().Add(15 * time.Second)
	var gEnd int
	var hEnd float64
	for {
		gEnd, hEnd = goroutines(t, g), heapInuse(t, g)
		if gEnd <= warmGoroutines && hEnd <= warmHeap*1.5+10<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("growth after the load: goroutines %d (under load %d), heap in use %.1f MiB (under load %.1f MiB)",
				gEnd, warmGoroutines, hEnd/(1<<20), warmHeap/(1<<20))
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("soak %v: %d requests (%.0f/s), %d errors, p99 first quarter %v, last quarter %v; goroutines %d under load, %d after; heap %.1f MiB under load, %.1f MiB after",
		dur, len(samples), float64(len(samples))/dur.Seconds(), len(errs), first, last, warmGoroutines, gEnd, warmHeap/(1<<20), hEnd/(1<<20))
}

var heapRE = regexp.MustCompile(`(?m)^go_memstats_heap_inuse_bytes ([0-9.e+]+)`)

func heapInuse(t *testing.T, g *Gateway) float64 {
	t.Helper()
	m := heapRE.FindStringSubmatch(scrape(t, g.AdminURL("/metrics")))
	if m == nil {
		t.Fatal("no go_memstats_heap_inuse_bytes")
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}
