package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
	"github.com/agentgateway-go/agentgateway/internal/testbin"
)

var update = flag.Bool("update", false, "rewrite testdata/results.txt with this run's results")

const (
	goldenPath = "testdata/results.txt"
	serverPkg  = "github.com/modelcontextprotocol/go-sdk/conformance/everything-server"
	gatewayPkg = "github.com/agentgateway-go/agentgateway/cmd/agentgateway"
	// Every scenario of the suite, pending ones included (json-schema-2020-12,
	// server-sse-polling): the everything-server passes them all directly.
	suite = "all"
	// The scenario of the "done when": it must be part of the run.
	dnsScenario = "dns-rebinding-protection"
	// One suite run takes 2-3 s; the bound is for a loaded machine.
	suiteTimeout = 2 * time.Minute
)

// TestConformance runs the suite directly against the everything-server,
// through the gateway (a passthrough route), and through a federated route
// of one backend with prefix "" (docs/federation.md: the gateway then
// terminates the client's session and speaks MCP to the backend itself),
// and requires the same result for every check of every scenario.
func TestConformance(t *testing.T) {
	bin := suiteBin(t)
	root := moduleRoot(t)
	dir := t.TempDir()

	t.Logf("conformance: building %s and the gateway", serverPkg)
	server := goBuild(t, root, filepath.Join(dir, "everything-server"), false, serverPkg)
	gateway := goBuild(t, root, filepath.Join(dir, "agentgateway"), raceEnabled, gatewayPkg)

	// -stateless=false as in the go-sdk's own scripts/server-conformance.sh:
	// sampling and elicitation need the stateful transport.
	backend := start(t, "everything-server", func(port int) (*exec.Cmd, string) {
		return exec.Command(server, fmt.Sprintf("-http=127.0.0.1:%d", port), "-stateless=false"),
			fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
	}, httpAnswers)
	startGateway := func(name string, federated bool) *proc {
		var readyz string
		return start(t, name, func(port int) (*exec.Cmd, string) {
			admin := freePort(t, port)
			readyz = fmt.Sprintf("http://127.0.0.1:%d/readyz", admin)
			cfg := filepath.Join(dir, fmt.Sprintf("%s-%d.yaml", name, port))
			if err := os.WriteFile(cfg, []byte(gatewayYAML(port, admin, strings.TrimSuffix(backend.url, "/mcp"), federated)), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(gateway, "run", "--config", cfg)
			// The race runtime sleeps 1s at exit by default; a race still fails
			// the test through the log check in start.
			cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
			return cmd, fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
		}, func(string) bool { return httpOK(readyz) })
	}
	gw := startGateway("gateway", false)
	fed := startGateway("federated", true)

	version := strings.TrimSpace(run(t, root, bin, "--version"))
	sdk := strings.TrimSpace(run(t, root, "go", "list", "-m", "-f", "{{.Path}} {{.Version}}", "github.com/modelcontextprotocol/go-sdk"))

	t.Logf("conformance: running the %q server suite directly against %s", suite, backend.url)
	direct := runSuite(t, bin, backend.url, filepath.Join(dir, "direct"))
	t.Logf("conformance: running the %q server suite through the gateway at %s", suite, gw.url)
	viaGateway := runSuite(t, bin, gw.url, filepath.Join(dir, "gateway"))
	t.Logf("conformance: running the %q server suite through the federated route at %s", suite, fed.url)
	viaFederated := runSuite(t, bin, fed.url, filepath.Join(dir, "federated"))

	table := render(version, sdk, direct, viaGateway, viaFederated)
	t.Logf("conformance results:\n%s", table)

	if *update {
		if err := os.WriteFile(goldenPath, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("conformance: wrote %s", goldenPath)
	} else if want, err := os.ReadFile(goldenPath); err != nil {
		t.Errorf("%v (create it with -update)", err)
	} else if string(want) != table {
		t.Errorf("%s is not this run's result; after a deliberate change (a gateway fix, a new suite or go-sdk version) refresh it with -update.\n%s",
			goldenPath, lineDiff(string(want), table))
	}

	if _, ok := direct[dnsScenario]; !ok {
		t.Errorf("the suite did not run %s", dnsScenario)
	}
	if d := differences(direct, viaGateway, "gateway"); d != "" {
		t.Errorf("the gateway changes the conformance result (direct vs gateway):\n%s", d)
	}
	if d := differences(direct, viaFederated, "federated"); d != "" {
		t.Errorf("the federated route changes the conformance result (direct vs federated, one backend, prefix \"\"):\n%s", d)
	}
}

// suiteBin returns the wrapper scripts/conformance-bin.sh installs.
func suiteBin(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CONFORMANCE_DIR")
	if dir == "" {
		dir = filepath.Join(moduleRoot(t), ".cache", "conformance")
	}
	return testbin.Executable(t, filepath.Join(dir, "bin", "conformance"),
		"install it with `make deps` (scripts/conformance-bin.sh)")
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/agentgateway-go/agentgateway\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no agentgateway go.mod above the working directory")
		}
		dir = parent
	}
}

// goBuild builds pkg from the main module, so that the go-sdk server is
// the version go.mod pins (the module cache holds it; nothing is copied
// into this repository).
func goBuild(t *testing.T, root, out string, race bool, pkg string) string {
	t.Helper()
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	run(t, root, "go", append(args, pkg)...)
	return out
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// gatewayYAML is the gateway in front of backend: one route, one mcp-http
// backend, no policies. federated makes the route a federated MCP server
// of that one backend with prefix "" (names pass through unchanged), so
// the suite sees the everything-server's own names.
func gatewayYAML(port, admin int, backend string, federated bool) string {
	route, prefix := "", ""
	if federated {
		route = `
            mcp:
              federation: true`
		prefix = `
                prefix: ""`
	}
	return fmt.Sprintf(`binds:
  - port: %d
    address: 127.0.0.1
    listeners:
      - name: mcp
        routes:
          - name: everything
            match:
              path:
                prefix: /mcp%s
            policies: []
            backends:
              - name: everything-server
                type: mcp-http
                address: %s%s
                mcp:
                  endpoint: /mcp
                  protocol: http
admin:
  address: 127.0.0.1
  port: %d
logging:
  format: json
  level: warn
  accessLog: false
`, port, route, backend, prefix, admin)
}

// proc is a child process with its output captured.
type proc struct {
	url  string
	logs *gatewaytest.LogBuffer
}

// start starts the program newCmd returns for a fresh loopback port and
// waits until ready(url). A program that exits before it is ready (its
// port was taken after all) is retried on another port, a few times.
func start(t *testing.T, name string, newCmd func(port int) (*exec.Cmd, string), ready func(url string) bool) *proc {
	t.Helper()
	var last string
	for range 3 {
		cmd, url := newCmd(freePort(t, 0))
		p := &proc{url: url, logs: &gatewaytest.LogBuffer{}}
		cmd.Stdout, cmd.Stderr = p.logs, p.logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", name, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		stop := func() {
			select {
			case <-done:
				return
			default:
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		t.Cleanup(func() {
			stop()
			if strings.Contains(p.logs.String(), "WARNING: DATA RACE") {
				t.Errorf("data race in %s:\n%s", name, p.logs.String())
			} else if t.Failed() && p.logs.String() != "" {
				t.Logf("%s logs:\n%s", name, p.logs.String())
			}
		})
		if waitReady(done, func() bool { return ready(url) }) {
			return p
		}
		select {
		case <-done:
			last = p.logs.String()
		default:
			t.Fatalf("%s not ready at %s in 30s\n%s", name, url, p.logs.String())
		}
	}
	t.Fatalf("%s exited before it was ready, 3 times; last output:\n%s", name, last)
	return nil
}

// waitReady polls ready for up to 30s, and gives up early when the
// process has exited.
func waitReady(done <-chan struct{}, ready func() bool) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return false
		default:
		}
		if ready() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

var probe = &http.Client{Timeout: 2 * time.Second}

// httpAnswers is whether url answers HTTP at all.
func httpAnswers(url string) bool {
	resp, err := probe.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// httpOK is whether url answers 200.
func httpOK(url string) bool {
	resp, err := probe.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// freePort returns a loopback port, other than not, that was free a moment
// ago. It picks below the kernel's ephemeral range, so that the source
// port of an outgoing connection cannot take it before the child binds it.
func freePort(t *testing.T, not int) int {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &lo)
	}
	const base = 10000
	for range 200 {
		p := base + rand.IntN(max(lo-base, 1000))
		if p == not {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		return p
	}
	t.Fatal("no free loopback port")
	return 0
}

// check is one entry of a scenario's checks.json.
type check struct {
	ID           string          `json:"id"`
	Status       string          `json:"status"` // SUCCESS, FAILURE, WARNING, INFO, ...
	ErrorMessage string          `json:"errorMessage"`
	Details      json.RawMessage `json:"details"`
}

// scored is whether a check counts in the result: INFO checks are a log
// of the exchange, not a verdict.
func (c check) scored() bool { return c.Status != "INFO" }

type scenario []check

func (s scenario) count(status string) int {
	n := 0
	for _, c := range s {
		if c.Status == status {
			n++
		}
	}
	return n
}

func (s scenario) ids(status string) []string {
	var ids []string
	for _, c := range s {
		if c.Status == status {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// cell is a scenario's result in the table: "pass 2/2", or "FAIL 1/2"
// with the failed checks, and the WARNING checks if any.
func (s scenario) cell() string {
	pass, fail := s.count("SUCCESS"), s.count("FAILURE")
	v := fmt.Sprintf("pass %d/%d", pass, pass+fail)
	if fail > 0 {
		v = fmt.Sprintf("FAIL %d/%d [%s]", pass, pass+fail, strings.Join(s.ids("FAILURE"), " "))
	}
	if w := s.ids("WARNING"); len(w) > 0 {
		v += fmt.Sprintf(" warn [%s]", strings.Join(w, " "))
	}
	return v
}

// resultDir is how the suite names a scenario's output directory.
var resultDir = regexp.MustCompile(`^server-(.+)-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$`)

// runSuite runs the server suite against url and returns the checks of
// each scenario, by name.
func runSuite(t *testing.T, bin, url, out string) map[string]scenario {
	t.Helper()
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "server", "--url", url, "--suite", suite, "-o", out)
	cmd.Dir = out
	// Loopback only: never through a proxy from the environment.
	cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	err := cmd.Run()
	// Exit status 1 means some check failed; the checks say which.
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1 || ctx.Err() != nil) {
		t.Fatalf("conformance server --url %s: %v\n%s", url, err, logs.String())
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]scenario{}
	for _, e := range entries {
		m := resultDir.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(out, e.Name(), "checks.json"))
		if err != nil {
			t.Fatal(err)
		}
		var s scenario
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s/checks.json: %v", e.Name(), err)
		}
		if _, dup := res[m[1]]; dup {
			t.Fatalf("scenario %s ran twice", m[1])
		}
		res[m[1]] = s
	}
	if len(res) == 0 {
		t.Fatalf("the suite wrote no results for %s\n%s", url, logs.String())
	}
	pass := 0
	for _, s := range res {
		if s.count("FAILURE") == 0 {
			pass++
		}
	}
	t.Logf("conformance: %s: %d/%d scenarios pass", url, pass, len(res))
	return res
}

func names(runs ...map[string]scenario) []string {
	set := map[string]bool{}
	for _, r := range runs {
		for n := range r {
			set[n] = true
		}
	}
	var ns []string
	for n := range set {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// total is a run's score: scenarios without a failed check, and SUCCESS
// checks out of SUCCESS and FAILURE ones.
func total(r map[string]scenario) string {
	sc, pass, all := 0, 0, 0
	for _, s := range r {
		if s.count("FAILURE") == 0 {
			sc++
		}
		pass += s.count("SUCCESS")
		all += s.count("SUCCESS") + s.count("FAILURE")
	}
	return fmt.Sprintf("%d/%d scenarios, %d/%d checks", sc, len(r), pass, all)
}

// render is the committed results table (testdata/results.txt).
func render(version, sdk string, direct, gw, fed map[string]scenario) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# MCP conformance, server scenarios (--suite %s), per scenario. Written by\n", suite)
	fmt.Fprintf(&b, "# go test ./test/conformance -run TestConformance -update\n")
	fmt.Fprintf(&b, "# suite:   @modelcontextprotocol/conformance %s (test/conformance/npm)\n", version)
	fmt.Fprintf(&b, "# server:  %s, conformance/everything-server -stateless=false\n", sdk)
	fmt.Fprintf(&b, "# direct:  the suite against the server; gateway: the same through agentgateway\n")
	fmt.Fprintf(&b, "#          (one route, one mcp-http backend, no policies)\n")
	fmt.Fprintf(&b, "# federated: the same through a federated route of that one backend\n")
	fmt.Fprintf(&b, "#          (mcp.federation: true, prefix \"\"; docs/federation.md)\n")
	fmt.Fprintf(&b, "# a cell:  pass|FAIL <SUCCESS checks>/<SUCCESS+FAILURE checks> [failed checks] warn [WARNING checks]\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tdirect\tgateway\tfederated\n")
	cell := func(r map[string]scenario, n string) string {
		if s, ok := r[n]; ok {
			return s.cell()
		}
		return "not run"
	}
	for _, n := range names(direct, gw, fed) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n, cell(direct, n), cell(gw, n), cell(fed, n))
	}
	fmt.Fprintf(tw, "total\t%s\t%s\t%s\n", total(direct), total(gw), total(fed))
	tw.Flush()
	return b.String()
}

// differences lists, per scenario, the checks whose status differs
// between the runs, with what the suite reported through the gateway
// (named via: "gateway" or "federated"; for dns-rebinding-protection: the
// Host and Origin it sent, and the status).
func differences(direct, gw map[string]scenario, via string) string {
	var b strings.Builder
	for _, n := range names(direct, gw) {
		d, dok := direct[n]
		g, gok := gw[n]
		if !dok || !gok {
			fmt.Fprintf(&b, "  %s: ran directly %v, through the %s %v\n", n, dok, via, gok)
			continue
		}
		byID := func(s scenario) map[string][]check {
			m := map[string][]check{}
			for _, c := range s {
				if c.scored() {
					m[c.ID] = append(m[c.ID], c)
				}
			}
			return m
		}
		dm, gm := byID(d), byID(g)
		var lines []string
		for _, id := range sortedKeys(dm, gm) {
			dc, gc := dm[id], gm[id]
			if statuses(dc) == statuses(gc) {
				continue
			}
			line := fmt.Sprintf("    %s: direct %s, %s %s", id, statuses(dc), via, statuses(gc))
			for _, side := range []struct {
				name string
				cs   []check
			}{{"direct", dc}, {via, gc}} {
				for _, c := range side.cs {
					line += fmt.Sprintf("\n      %s: %s", side.name, c.Status)
					if c.ErrorMessage != "" {
						line += ": " + c.ErrorMessage
					}
					if len(c.Details) > 0 {
						line += " " + compact(c.Details)
					}
				}
			}
			lines = append(lines, line)
		}
		if len(lines) > 0 {
			fmt.Fprintf(&b, "  %s: direct %s, %s %s\n%s\n", n, d.cell(), via, g.cell(), strings.Join(lines, "\n"))
		}
	}
	return b.String()
}

func statuses(cs []check) string {
	if len(cs) == 0 {
		return "absent"
	}
	var s []string
	for _, c := range cs {
		s = append(s, c.Status)
	}
	return strings.Join(s, ",")
}

func sortedKeys(ms ...map[string][]check) []string {
	set := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			set[k] = true
		}
	}
	var ks []string
	for k := range set {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// compact is details on one line, clipped: for dns-rebinding-protection
// the Host and Origin the suite sent and the status it got.
func compact(details json.RawMessage) string {
	var b bytes.Buffer
	s := string(details)
	if json.Compact(&b, details) == nil {
		s = b.String()
	}
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	w, g := count(want), count(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if g[l] > 0 {
			g[l]--
			continue
		}
		fmt.Fprintf(&b, "-%s\n", l)
	}
	for _, l := range strings.Split(got, "\n") {
		if w[l] > 0 {
			w[l]--
			continue
		}
		fmt.Fprintf(&b, "+%s\n", l)
	}
	return b.String()
}
