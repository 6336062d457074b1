package main

// The federation cells (issue #16, docs/federation.md): a federated
// tools/call and a three-backend tools/list, against the same calls on a
// passthrough route and directly. Unlike the other cells they need real
// MCP servers (a federated route initializes its backends and merges
// their lists), so the backends are three go-sdk servers in one process
// (-role mcpservers), each with a get_weather_data tool answering about
// 1 KB and nine more tools to list. Every path is driven on one MCP session
// opened before the load, as an agent holds one.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgateway-go/agentgateway/bench/gwconfig"
)

// fedToolsPerBackend is how many tools each backend lists.
const fedToolsPerBackend = 10

type fedWeatherIn struct {
	City string `json:"city"`
}

// runMCPServers serves one go-sdk MCP server per address (comma-separated)
// at /mcp (stateful, JSON responses), and /healthz.
func runMCPServers(addrs string) error {
	text := strings.Repeat("x", 900) // the JSON-RPC response is about 1 KB
	errc := make(chan error, 1)
	var once sync.Once
	for i, addr := range strings.Split(addrs, ",") {
		s := mcp.NewServer(&mcp.Implementation{Name: fmt.Sprintf("bench-mcp-%d", i), Version: "1.0.0"}, nil)
		mcp.AddTool(s, &mcp.Tool{Name: "get_weather_data", Description: "a forecast of about 1 KB"}, func(_ context.Context, _ *mcp.CallToolRequest, in fedWeatherIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.City + " " + text}}}, nil, nil
		})
		for j := 1; j < fedToolsPerBackend; j++ {
			mcp.AddTool(s, &mcp.Tool{Name: fmt.Sprintf("tool_%02d", j), Description: "a tool to list"}, func(context.Context, *mcp.CallToolRequest, fedWeatherIn) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
			})
		}
		mux := http.NewServeMux()
		mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{JSONResponse: true}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		go func() {
			if err := serveRole(addr, mux); err != nil {
				once.Do(func() { errc <- err })
			}
		}()
	}
	return <-errc
}

// fedOp is one of the two operations measured.
type fedOp struct {
	name string
	// body is the request with %d for its id.
	body func(prefix string) string
	// want are substrings of a correct answer (prefixed per path).
	want func(prefix string, backends int) []string
}

var fedOps = []fedOp{
	{name: "tools/call",
		body: func(p string) string {
			return `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"` + p + `get_weather_data","arguments":{"city":"Tampa, FL"}}}`
		},
		want: func(string, int) []string { return []string{`"result"`, "Tampa, FL xxxx"} }},
	{name: "tools/list",
		body: func(string) string { return `{"jsonrpc":"2.0","id":%d,"method":"tools/list"}` },
		want: func(p string, n int) []string {
			if n == 1 {
				return []string{`"` + p + `get_weather_data"`, `"` + p + `tool_09"`}
			}
			var w []string
			for _, b := range gwconfig.FederationBackends[:n] {
				w = append(w, `"`+b+`_get_weather_data"`, `"`+b+`_tool_09"`)
			}
			return w
		}},
}

// fedPath is one way to reach the MCP servers.
type fedPath struct {
	name     string
	base     string
	proc     *proc // charged CPU (the gateway; for direct the servers)
	prefix   string
	backends int // how many backends its tools/list covers
	session  string
	broken   error
}

// fedCell is one measured (path, operation).
type fedCell struct {
	res closedRes
	cpu float64 // CPU seconds per 1,000 requests of the path's process
}

// fedResult is the federation section of the report.
type fedResult struct {
	paths []*fedPath
	cells map[[2]string]fedCell // {path, op}
	beCPU map[[2]string]float64 // backend CPU seconds per 1,000 requests
}

// openSession initializes an MCP session at url (2025-06-18, as the other
// workloads) and returns its id.
func openSession(url string) (string, error) {
	post := func(body, sid string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		}
		resp, err := benchClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b, nil
	}
	resp, b, err := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"agbench","version":"1"}}}`, "")
	if err != nil {
		return "", err
	}
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		return "", fmt.Errorf("initialize: status %d, session %q: %.300s", resp.StatusCode, sid, b)
	}
	resp, b, err = post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, sid)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("notifications/initialized: status %d: %.300s", resp.StatusCode, b)
	}
	return sid, nil
}

// fedProbe sends one request and checks the answer.
func fedProbe(url string, w workload, want []string) error {
	resp, err := benchClient.Do(newReq(url, w, ""))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %.300s", resp.StatusCode, b)
	}
	for _, s := range want {
		if !strings.Contains(string(b), s) {
			return fmt.Errorf("answer lacks %s: %.300s", s, b)
		}
	}
	return nil
}

// runFederation starts the MCP servers and the two gateways, and measures
// both operations through each path. fail reports a failure; broken paths
// are reported and skipped.
func runFederation(o options, tmp, self, gwBin, wrkBin string, fail func(string, ...any), notes *[]string) *fedResult {
	addrs := make([]string, len(gwconfig.FederationBackends))
	urls := make([]string, len(addrs))
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", freePort())
		urls[i] = "http://" + addrs[i]
	}
	servers, err := startProc("mcp-servers", filepath.Join(tmp, "mcpservers.log"), []string{self, "-role", "mcpservers", "-listen", strings.Join(addrs, ",")}, nil)
	if err != nil {
		fail("federation: %v", err)
		return nil
	}
	atExit(servers.stop)
	for _, u := range urls {
		if err := waitHTTP(servers, u+"/healthz", 30*time.Second); err != nil {
			fail("federation: %v", err)
			return nil
		}
	}
	res := &fedResult{cells: map[[2]string]fedCell{}, beCPU: map[[2]string]float64{}}
	res.paths = append(res.paths, &fedPath{name: "direct (1 server)", base: urls[0], proc: servers, backends: 1})
	for _, g := range []struct {
		name     string
		federate bool
	}{{"gateway passthrough (1 backend)", false}, {"gateway federated (3 backends)", true}} {
		p := &fedPath{name: g.name, backends: 1}
		if g.federate {
			p.prefix, p.backends = gwconfig.FederationBackends[0]+"_", len(urls)
		}
		port, admin := freePort(), freePort()
		p.base = fmt.Sprintf("http://127.0.0.1:%d", port)
		file := strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(g.name)
		cfg := filepath.Join(tmp, file+".yaml")
		if err := os.WriteFile(cfg, []byte(gwconfig.MCP(port, admin, urls, g.federate)), 0o600); err != nil {
			fail("federation: %v", err)
			return nil
		}
		pr, err := startProc(file, filepath.Join(tmp, file+".log"), []string{gwBin, "run", "--config", cfg}, o.gatewayEnv)
		if err != nil {
			p.broken = err
		} else {
			p.proc = pr
			atExit(pr.stop)
			p.broken = waitHTTP(pr, fmt.Sprintf("http://127.0.0.1:%d/readyz", admin), 30*time.Second)
		}
		res.paths = append(res.paths, p)
	}

	for i, p := range res.paths {
		if p.broken == nil {
			p.session, p.broken = openSession(p.base + "/mcp")
		}
		if p.broken != nil {
			fail("federation: %s: %v", p.name, p.broken)
			continue
		}
		for _, op := range fedOps {
			w := workload{name: fmt.Sprintf("fed-%d-%s", i, strings.ReplaceAll(op.name, "/", "-")),
				urlPath: "/mcp", idBody: op.body(p.prefix), mcp: true, session: p.session}
			if err := fedProbe(p.base+w.urlPath, w, op.want(p.prefix, p.backends)); err != nil {
				p.broken = fmt.Errorf("%s probe: %w", op.name, err)
				fail("federation: %s: %v", p.name, p.broken)
				break
			}
			logf("federation  %-10s %-32s %d conns, %s", op.name, p.name, o.conns, o.duration)
			pids, bePids := p.proc.pids(), servers.pids()
			c0, b0 := cpuOf(pids), cpuOf(bePids)
			var r closedRes
			if wrkBin != "" {
				script, err := wrkScript(tmp, w, "")
				if err == nil {
					r, err = runWrk(wrkBin, script, p.base+w.urlPath, o.conns, o.duration)
				}
				if err != nil {
					fail("federation: %s %s: %v", p.name, op.name, err)
					continue
				}
			} else {
				r = runGoClosed(p.base+w.urlPath, w, "", o.conns, o.duration)
			}
			c1, b1 := cpuOf(pids), cpuOf(bePids)
			cell := fedCell{res: r}
			if r.reqs > 0 {
				cell.cpu = float64(c1-c0) / clkTck / float64(r.reqs) * 1000
				res.beCPU[[2]string{p.name, op.name}] = float64(b1-b0) / clkTck / float64(r.reqs) * 1000
			}
			res.cells[[2]string{p.name, op.name}] = cell
			switch {
			case r.reqs == 0:
				fail("federation: %s %s: no requests completed", p.name, op.name)
			case r.errs > 0 && strings.HasPrefix(p.name, "gateway") && o.smoke:
				fail("federation: %s %s: %d errors of %d requests (%s)", p.name, op.name, r.errs, r.reqs, r.detail)
			case r.errs > 0:
				*notes = append(*notes, fmt.Sprintf("federation: %s %s: %d errors of %d requests (%s)", p.name, op.name, r.errs, r.reqs, r.detail))
			}
			if !o.smoke {
				time.Sleep(300 * time.Millisecond)
			}
		}
	}
	for _, p := range res.paths {
		if p.broken == nil && p.proc != nil && p.proc.exited() {
			fail("federation: %s exited during the run:\n%s", p.name, p.proc.tailLog(2000))
		}
	}
	return res
}

// markdown renders the federation section.
func (f *fedResult) markdown(b *strings.Builder) {
	if f == nil {
		return
	}
	b.WriteString("\n## Federation (MCP; go-sdk servers)\n\n")
	fmt.Fprintf(b, "One MCP session per path, opened before the load; %d tools per server. tools/call answers about 1 KB. The federated route merges three servers' tools/list (%d tools); ×passthrough is the ratio to the passthrough route's throughput. CPU is the gateway's (for direct: the servers') user+system seconds per 1,000 requests; backend CPU is the three servers'.\n\n", fedToolsPerBackend, 3*fedToolsPerBackend)
	b.WriteString("| path | operation | rps | p50 µs | p99 µs | errors | ×passthrough | CPU s/1k req | backend CPU s/1k req |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	const pass = "gateway passthrough (1 backend)"
	for _, op := range fedOps {
		for _, p := range f.paths {
			c, ok := f.cells[[2]string{p.name, op.name}]
			if !ok {
				if p.broken != nil {
					fmt.Fprintf(b, "| %s | %s | broken: %s |\n", p.name, op.name, strings.SplitN(p.broken.Error(), "\n", 2)[0])
				}
				continue
			}
			x := "—"
			if pc, ok := f.cells[[2]string{pass, op.name}]; ok && p.name != pass {
				x = ratio(c.res.rps, pc.res.rps)
			}
			fmt.Fprintf(b, "| %s | %s | %.0f | %s | %s | %d | %s | %.3f | %.3f |\n", p.name, op.name, c.res.rps,
				us(c.res.p50), us(c.res.p99), c.res.errs, x, c.cpu, f.beCPU[[2]string{p.name, op.name}])
		}
	}
}
