package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestChaosBackendKilledAndRestarted runs steady tools/call load (every
// call with its own key) while the MCP backend is killed and restarted on
// the same address. Expected (docs/operations.md):
//
//   - while it is down, calls fail fast with 502 (connect failure) or 503
//     (circuit open), as JSON-RPC errors; nothing hangs;
//   - within 2 s of the restart (baseEjectionTime 500ms), calls succeed again;
//   - no tools/call runs twice (connect failures are retried, resets of a
//     tools/call are not);
//   - afterwards the gateway's goroutines return to their level before.
func TestChaosBackendKilledAndRestarted(t *testing.T) {
	be := newResBackendHandler(resBackendOpts{JSONResponse: true})
	addr := reserveAddr(t)
	stop := startKillable(t, addr, be)

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
                circuitBreaker: {consecutiveFailures: 3, baseEjectionTime: 500ms, maxEjectionTime: 1s}
                mcp: {endpoint: /mcp}
`, addr)
	g := StartGateway(t, cfg)
	c := &http.Client{Timeout: 10 * time.Second}
	baseline := goroutines(t, g)

	var (
		seq     atomic.Int64
		mu      sync.Mutex
		results []chaosResult
	)
	call := func() {
		id := int(seq.Add(1))
		key := "k" + strconv.Itoa(id)
		body, hdr := resRequest(id, "tools/call", "echo", resToolArgs{Key: key, Text: key}, false, "")
		start := time.Now()
		r, err := resDo(c, http.MethodPost, g.URL("/mcp"), body, hdr)
		res := chaosResult{key: key, at: start, took: time.Since(start)}
		if err != nil {
			res.status = -1
		} else {
			res.status = r.Status
		}
		mu.Lock()
		results = append(results, res)
		mu.Unlock()
	}
	// Four workers, bounded by time and count.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	running := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 5000; n++ {
				select {
				case <-running:
					return
				case <-ctx.Done():
					return
				default:
				}
				call()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	killedAt := time.Now()
	stop()
	time.Sleep(1500 * time.Millisecond)
	restartedAt := time.Now()
	stop = startKillable(t, addr, be)
	time.Sleep(3 * time.Second)
	close(running)
	wg.Wait()
	defer stop()

	var ok, failedDown, late int
	for _, r := range results {
		switch {
		case r.at.Add(r.took).Before(killedAt) || r.at.After(restartedAt.Add(2*time.Second)):
			// Finished before the kill, or started 2 s after the restart.
			if r.status != 200 {
				late++
				t.Errorf("call %s at %v (outside the outage): status %d", r.key, r.at.Sub(killedAt), r.status)
			} else {
				ok++
			}
		case r.at.After(killedAt.Add(100*time.Millisecond)) && r.at.Before(restartedAt):
			if r.status != 502 && r.status != 503 && r.status != 200 {
				t.Errorf("call %s during the outage: status %d", r.key, r.status)
			}
			if r.status != 200 {
				failedDown++
			}
			if r.took > 3*time.Second {
				t.Errorf("call %s during the outage took %v", r.key, r.took)
			}
		}
	}
	if ok < 20 || failedDown == 0 {
		t.Fatalf("load did not exercise both phases: %d ok, %d failed while down", ok, failedDown)
	}
	// Zero duplicate executions, and every success ran exactly once.
	for _, r := range results {
		n := be.Execs(r.key)
		if n > 1 {
			t.Errorf("%s ran %d times", r.key, n)
		}
		if r.status == 200 && n != 1 {
			t.Errorf("%s answered 200 but ran %d times", r.key, n)
		}
	}
	if m := scrape(t, g.AdminURL("/metrics")); !regexp.MustCompile(`agentgateway_circuit_breaker_ejections_total\{backend="chaos-backend",route="chaos"\} [1-9]`).MatchString(m) {
		t.Error("no ejection counted")
	}
	// No goroutine growth once the load is over.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := goroutines(t, g)
		if n <= baseline+10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d after the load, %d before", n, baseline)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d calls: %d ok outside the outage, %d failed fast while down", len(results), ok, failedDown)
}

type chaosResult struct {
	key    string
	at     time.Time
	took   time.Duration
	status int
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
