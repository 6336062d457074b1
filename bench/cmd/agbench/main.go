// Command agbench is the performance harness of issue #8. In one run it
// starts, on 127.0.0.1 only, an MCP-style backend, nginx (plain
// proxy_pass, keepalive upstream), a bare Go httputil.ReverseProxy, and the
// gateway binary with no policies and with the seed's full MCP chain, then
// drives the same workloads through each and prints one table of ratios
// against direct and against nginx.
//
// Load, backend and proxies share the machine's cores, so only ratios from
// one run are comparable. See docs/bench.md.
//
//	go run ./bench/cmd/agbench              # full run (make bench)
//	go run ./bench/cmd/agbench -smoke       # ~1 s per cell, no targets (make test)
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agentgateway-go/agentgateway/bench/gwconfig"
)

type options struct {
	smoke        bool
	duration     time.Duration
	openDuration time.Duration
	rates        []int
	conns        int
	openConns    int
	streamWait   time.Duration
	streams      int
	out          string
	repo         string
	gatewayBin   string
	keep         bool
	ci           bool
	fedOnly      bool
	// gatewayEnv is added to the gateway processes' environment only
	// (e.g. GOGC=400 to measure a GC setting against the same go-bare).
	gatewayEnv []string
}

func main() {
	role := flag.String("role", "", "internal: run as backend, gobare or mcpservers")
	listen := flag.String("listen", "", "internal: role listen address")
	upstream := flag.String("upstream", "", "internal: gobare upstream URL")
	var o options
	var rates string
	flag.BoolVar(&o.smoke, "smoke", false, "smoke mode: ~1 s per cell, few streams; checks every path works, asserts no performance target")
	flag.DurationVar(&o.duration, "d", 4*time.Second, "closed-loop duration per cell")
	flag.DurationVar(&o.openDuration, "open-d", 4*time.Second, "open-loop duration per cell")
	flag.StringVar(&rates, "rates", "1000,5000", "open-loop rates (requests per second)")
	flag.IntVar(&o.conns, "c", 32, "closed-loop connections")
	flag.IntVar(&o.openConns, "open-c", 64, "open-loop connection pool")
	flag.IntVar(&o.streams, "streams", 10000, "idle SSE streams opened through gateway-seed")
	flag.DurationVar(&o.streamWait, "stream-wait", 120*time.Second, "how long to wait for memory to return to baseline after the streams close (covers the runtime's 2-minute forced GC)")
	flag.StringVar(&o.out, "out", "", "directory for <date>.md results (empty: print only)")
	flag.StringVar(&o.repo, "repo", "", "module root holding cmd/agentgateway (default: found from the working directory)")
	flag.StringVar(&o.gatewayBin, "gateway-bin", "", "use this agentgateway binary instead of building one")
	flag.Func("gateway-env", "NAME=value added to the gateway processes' environment only (repeatable), e.g. GOGC=400", func(v string) error {
		if name, _, ok := strings.Cut(v, "="); !ok || name == "" {
			return fmt.Errorf("want NAME=value, got %q", v)
		}
		o.gatewayEnv = append(o.gatewayEnv, v)
		return nil
	})
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (configs, logs)")
	flag.BoolVar(&o.fedOnly, "federation-only", false, "run only the federation cells (federated tools/call and three-backend tools/list against passthrough)")
	flag.Parse()

	switch *role {
	case "backend":
		fatalIf(runBackend(*listen))
		return
	case "gobare":
		fatalIf(runGoBare(*listen, *upstream))
		return
	case "mcpservers":
		fatalIf(runMCPServers(*listen))
		return
	case "":
	default:
		fatalIf(fmt.Errorf("unknown role %q", *role))
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.smoke {
		if !set["d"] {
			o.duration = time.Second
		}
		if !set["open-d"] {
			o.openDuration = time.Second
		}
		if !set["rates"] {
			rates = "500"
		}
		if !set["streams"] {
			o.streams = 200
		}
	}
	for _, s := range strings.Split(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatalIf(fmt.Errorf("bad -rates %q", rates))
		}
		o.rates = append(o.rates, n)
	}
	o.ci = os.Getenv("CI") == "true"
	os.Exit(harness(o))
}

func fatalIf(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "agbench:", err)
		os.Exit(1)
	}
}

// cleanup runs registered stops once, also on SIGINT/SIGTERM.
var (
	cleanMu  sync.Mutex
	cleanups []func()
)

func atExit(f func()) {
	cleanMu.Lock()
	cleanups = append(cleanups, f)
	cleanMu.Unlock()
}

func runCleanups() {
	cleanMu.Lock()
	fs := cleanups
	cleanups = nil
	cleanMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "agbench: "+format+"\n", a...)
}

// benchPath is one way to reach the backend.
type benchPath struct {
	name    string
	base    string // http://127.0.0.1:port
	proc    *proc  // the process its CPU and RSS are charged to
	admin   string // gateway admin base URL
	skip    string // why the column is empty
	broken  error
	rssIdle int64
}

func (p *benchPath) ok() bool { return p.skip == "" && p.broken == nil }

func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "cmd", "agentgateway", "main.go")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cmd/agentgateway not found above the working directory; pass -repo")
		}
		dir = parent
	}
}

func lookTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// raiseNoFile lifts RLIMIT_NOFILE for the harness and every child
// (calling Setrlimit stops Go from restoring the old soft limit in
// children).
func raiseNoFile(want uint64) uint64 {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if lim.Max < want {
		l := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
			return want
		}
	}
	lim.Cur = min(want, lim.Max)
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

func harness(o options) (code int) {
	started := time.Now()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		runCleanups()
		os.Exit(130)
	}()
	defer runCleanups()

	var fails []string
	fail := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		logf("FAIL: %s", msg)
		fails = append(fails, msg)
	}
	var notes []string

	nofile := raiseNoFile(uint64(o.streams)*3 + 4096)
	if need := uint64(o.streams)*2 + 1024; nofile < need && !o.fedOnly {
		n := int((nofile - 1024) / 2)
		notes = append(notes, fmt.Sprintf("RLIMIT_NOFILE is %d: streams reduced from %d to %d", nofile, o.streams, n))
		o.streams = max(n, 0)
	}

	repo := o.repo
	if repo == "" && o.gatewayBin == "" {
		var err error
		if repo, err = findRepo(); err != nil {
			fail("%v", err)
			return 1
		}
	}
	tmp, err := os.MkdirTemp("", "agbench-")
	if err != nil {
		fail("%v", err)
		return 1
	}
	if o.keep {
		logf("temp dir kept: %s", tmp)
	} else {
		atExit(func() { os.RemoveAll(tmp) })
	}

	nginxBin, wrkBin := lookTool("nginx"), lookTool("wrk")
	for _, t := range []struct{ name, path string }{{"nginx", nginxBin}, {"wrk", wrkBin}} {
		if t.path != "" {
			continue
		}
		if o.ci {
			fail("%s is missing (CI=true): run scripts/deps.sh", t.name)
			return 1
		}
		notes = append(notes, t.name+" is not installed (apt "+t.name+"): "+map[string]string{
			"nginx": "the nginx column is skipped",
			"wrk":   "closed-loop cells use the Go load generator instead of wrk (higher client CPU, lower absolute numbers)",
		}[t.name])
	}

	gwBin := o.gatewayBin
	if gwBin == "" {
		gwBin = filepath.Join(tmp, "agentgateway")
		logf("building the gateway")
		rev := "dev"
		if out, err := exec.Command("git", "-C", repo, "describe", "--tags", "--always", "--dirty").Output(); err == nil {
			rev = strings.TrimSpace(string(out))
		}
		cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+rev, "-o", gwBin, "./cmd/agentgateway")
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			fail("go build ./cmd/agentgateway: %v\n%s", err, out)
			return 1
		}
	}
	gwVersion := "unknown"
	if out, err := exec.Command(gwBin, "version").Output(); err == nil {
		gwVersion = strings.TrimSpace(string(out))
	}
	self, err := os.Executable()
	if err != nil {
		fail("%v", err)
		return 1
	}

	iss, err := startIssuer()
	if err != nil {
		fail("jwks: %v", err)
		return 1
	}
	atExit(func() { _ = iss.srv.Close() })
	tokens := map[string]string{}
	for _, sub := range []string{subWeather, subPlanning} {
		if tokens[sub], err = iss.token(sub); err != nil {
			fail("token: %v", err)
			return 1
		}
	}

	if o.fedOnly {
		fed := runFederation(o, tmp, self, gwBin, wrkBin, fail, &notes)
		rep := report{o: o, gwVersion: gwVersion, started: started, notes: notes, fails: fails, fed: fed,
			tool: map[bool]string{true: "wrk", false: "Go (wrk missing)"}[wrkBin != ""]}
		var b strings.Builder
		fed.markdown(&b)
		fmt.Println(rep.header() + b.String() + rep.notesMarkdown())
		if len(fails) > 0 {
			return 1
		}
		return 0
	}

	// --- start everything ---
	start := func(p *benchPath, pr *proc, err error, ready string) {
		if err != nil {
			p.broken = err
			fail("%s: %v", p.name, err)
			return
		}
		p.proc = pr
		atExit(pr.stop)
		if err := waitHTTP(pr, ready, 30*time.Second); err != nil {
			p.broken = err
			fail("%s: %v", p.name, err)
		}
	}
	bePort := freePort()
	backendAddr := fmt.Sprintf("127.0.0.1:%d", bePort)
	direct := &benchPath{name: "direct", base: "http://" + backendAddr}
	pr, err := startProc("backend", filepath.Join(tmp, "backend.log"), []string{self, "-role", "backend", "-listen", backendAddr}, nil)
	start(direct, pr, err, direct.base+"/healthz")
	if !direct.ok() {
		return 1
	}

	nginx := &benchPath{name: "nginx"}
	if nginxBin == "" {
		nginx.skip = "nginx not installed"
	} else {
		port := freePort()
		nginx.base = fmt.Sprintf("http://127.0.0.1:%d", port)
		pr, err := startNginx(nginxBin, tmp, port, backendAddr)
		start(nginx, pr, err, nginx.base+"/healthz")
	}

	gobare := &benchPath{name: "go-bare"}
	{
		addr := fmt.Sprintf("127.0.0.1:%d", freePort())
		gobare.base = "http://" + addr
		pr, err := startProc("go-bare", filepath.Join(tmp, "gobare.log"), []string{self, "-role", "gobare", "-listen", addr, "-upstream", direct.base}, nil)
		start(gobare, pr, err, gobare.base+"/healthz")
	}

	gw := func(name string, kind gwconfig.Kind) *benchPath {
		p := &benchPath{name: name}
		port, admin := freePort(), freePort()
		p.base = fmt.Sprintf("http://127.0.0.1:%d", port)
		p.admin = fmt.Sprintf("http://127.0.0.1:%d", admin)
		cfg := filepath.Join(tmp, name+".yaml")
		if err := os.WriteFile(cfg, []byte(gwconfig.YAML(kind, port, admin, direct.base, iss.JWKSURL)), 0o600); err != nil {
			p.broken = err
			return p
		}
		pr, err := startProc(name, filepath.Join(tmp, name+".log"), []string{gwBin, "run", "--config", cfg}, o.gatewayEnv)
		start(p, pr, err, p.admin+"/readyz")
		return p
	}
	gwNonePath := gw("gateway-none", gwconfig.None)
	gwSeedPath := gw("gateway-seed", gwconfig.Seed)
	gwSeedNoTracePath := gw("gateway-seed-notrace", gwconfig.SeedNoTrace)
	paths := []*benchPath{direct, nginx, gobare, gwNonePath, gwSeedPath, gwSeedNoTracePath}

	// Idle RSS: after readiness, before any traffic.
	time.Sleep(time.Second)
	for _, p := range paths {
		if p.ok() {
			p.rssIdle = rssOf(p.proc.pids())
		}
	}

	// --- probes: every path answers every workload correctly ---
	for _, p := range paths {
		if !p.ok() {
			continue
		}
		for _, w := range workloads {
			if err := probe(p.base+w.urlPath, w, tokens[w.sub]); err != nil {
				p.broken = fmt.Errorf("%s probe: %w", w.name, err)
				fail("%s: %v\n%s", p.name, p.broken, p.proc.tailLog(2000))
				break
			}
		}
	}

	// --- closed loop ---
	type cellKey struct{ path, wl string }
	closed := map[cellKey]closedRes{}
	cpu := map[string]float64{}   // proxy CPU seconds per 1000 requests, JSON 1 KB cell
	beCPU := map[string]float64{} // backend CPU seconds per 1000 requests
	rssLoad := map[string]int64{} // RSS after the load cells
	scripts := map[string]string{}
	for _, w := range workloads {
		if wrkBin != "" {
			s, err := wrkScript(tmp, w, tokens[w.sub])
			if err != nil {
				fail("%v", err)
				return 1
			}
			scripts[w.name] = s
		}
	}
	for _, w := range workloads {
		for _, p := range paths {
			if !p.ok() {
				continue
			}
			logf("closed loop %-8s %-21s %d conns, %s", w.name, p.name, o.conns, o.duration)
			bePids, pPids := direct.proc.pids(), p.proc.pids()
			be0, p0 := cpuOf(bePids), cpuOf(pPids)
			var r closedRes
			if wrkBin != "" {
				r, err = runWrk(wrkBin, scripts[w.name], p.base+w.urlPath, o.conns, o.duration)
				if err != nil {
					fail("%s %s: %v", p.name, w.name, err)
					continue
				}
			} else {
				r = runGoClosed(p.base+w.urlPath, w, tokens[w.sub], o.conns, o.duration)
			}
			be1, p1 := cpuOf(bePids), cpuOf(pPids)
			closed[cellKey{p.name, w.name}] = r
			if r.rps == 0 || r.reqs == 0 {
				fail("%s %s: no requests completed", p.name, w.name)
			} else if r.errs > 0 {
				msg := fmt.Sprintf("%s %s: %d errors of %d requests (%s)", p.name, w.name, r.errs, r.reqs, r.detail)
				// The smoke fails on any error through the gateway. The
				// reference paths (direct, nginx, go-bare) only need to
				// work: wrk occasionally reports a socket read error
				// against them on this shared machine.
				if o.smoke && strings.HasPrefix(p.name, "gateway") {
					fail("%s", msg)
				} else {
					notes = append(notes, msg)
				}
			}
			if w.name == varJSON1K && r.reqs > 0 {
				cpu[p.name] = float64(p1-p0) / clkTck / float64(r.reqs) * 1000
				beCPU[p.name] = float64(be1-be0) / clkTck / float64(r.reqs) * 1000
			}
			if !o.smoke {
				time.Sleep(300 * time.Millisecond) // let sockets and the GC settle between cells
			}
		}
	}

	// --- open loop, JSON 1 KB ---
	type openKey struct {
		path string
		rate int
	}
	open := map[openKey]openRes{}
	wl := workloads[0]
	for _, rate := range o.rates {
		for _, p := range paths {
			if !p.ok() {
				continue
			}
			url := p.base + wl.urlPath
			logf("open loop   %-8s %-21s %d rps, %s", wl.name, p.name, rate, o.openDuration)
			r := runOpen(url, wl, tokens[wl.sub], rate, o.openDuration, o.openConns)
			open[openKey{p.name, rate}] = r
			if r.errs > 0 || r.achievedRPS == 0 {
				msg := fmt.Sprintf("%s open loop %d rps: %d errors of %d", p.name, rate, r.errs, r.sent)
				if o.smoke || r.achievedRPS == 0 {
					fail("%s", msg)
				} else {
					notes = append(notes, msg)
				}
			}
			if !o.smoke {
				time.Sleep(300 * time.Millisecond) // let sockets and the GC settle between cells
			}
		}
	}
	for _, p := range paths {
		if p.ok() {
			rssLoad[p.name] = rssOf(p.proc.pids())
		}
	}

	// --- federation: a federated tools/call and a three-backend tools/list
	// against passthrough, on go-sdk servers ---
	fed := runFederation(o, tmp, self, gwBin, wrkBin, fail, &notes)

	// --- idle SSE streams through gateway-seed ---
	var sr *streamRes
	if gwSeedPath.ok() && o.streams > 0 {
		logf("opening %d idle SSE streams through gateway-seed", o.streams)
		addr := strings.TrimPrefix(gwSeedPath.base, "http://")
		settle, wait := 2*time.Second, o.streamWait
		if o.smoke {
			settle, wait = 500*time.Millisecond, 10*time.Second
		}
		burst := func() {
			runGoClosed(gwSeedPath.base+workloads[2].urlPath, workloads[2], tokens[subWeather], 16, min(5*time.Second, wait/4))
			// The burst's keep-alive connections would hold a server
			// goroutine each in the gateway: they are the harness's, not
			// the streams' leftovers.
			benchClient.CloseIdleConnections()
		}
		r := runStreams(addr, gwSeedPath.admin+"/metrics", gwSeedPath.proc.pids(), tokens[subWeather], o.streams, settle, wait, burst)
		sr = &r
		r.wait = wait
		if r.err != nil || r.opened < r.n {
			fail("streams: opened %d of %d: %v", r.opened, r.n, r.err)
		}
		if !r.goroutinesReturned {
			fail("streams: goroutines did not return to baseline (%.0f → %.0f → %.0f)", r.gorBase, r.gorOpen, r.gorClosed)
		}
		if !r.rssReturned || !r.memReturned {
			notes = append(notes, fmt.Sprintf("streams: memory had not returned to baseline %s after close: RSS %s → %s → %s, Go heap + stacks %s → %s → %s", wait,
				mib(r.rssBase), mib(r.rssOpen), mib(r.rssClosed), mib(int64(r.memBase)), mib(int64(r.memOpen)), mib(int64(r.memClosed))))
		}
	}

	for _, p := range paths {
		if p.broken == nil && p.proc != nil && p.proc.exited() {
			fail("%s exited during the run:\n%s", p.name, p.proc.tailLog(2000))
		}
	}

	rep := report{o: o, gwVersion: gwVersion, paths: paths, started: started, notes: notes, fails: fails, streams: sr, fed: fed,
		cpu: cpu, beCPU: beCPU, rssLoad: rssLoad, tool: map[bool]string{true: "wrk", false: "Go (wrk missing)"}[wrkBin != ""]}
	rep.closed = func(p, w string) (closedRes, bool) { r, ok := closed[cellKey{p, w}]; return r, ok }
	rep.open = func(p string, rate int) (openRes, bool) { r, ok := open[openKey{p, rate}]; return r, ok }
	md := rep.markdown()
	fmt.Println(md)
	if o.out != "" && !o.smoke {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			fail("%v", err)
		} else {
			f := filepath.Join(o.out, started.UTC().Format("2006-01-02")+".md")
			if err := os.WriteFile(f, []byte(md), 0o644); err != nil {
				fail("%v", err)
			} else {
				logf("wrote %s", f)
			}
		}
	}
	logf("done in %s", time.Since(started).Round(time.Second))
	if len(fails) > 0 {
		logf("%d failure(s)", len(fails))
		return 1
	}
	return 0
}
