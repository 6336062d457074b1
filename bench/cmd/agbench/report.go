package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

type report struct {
	o         options
	gwVersion string
	paths     []*benchPath
	started   time.Time
	notes     []string
	fails     []string
	streams   *streamRes
	fed       *fedResult
	cpu       map[string]float64
	beCPU     map[string]float64
	rssLoad   map[string]int64
	tool      string
	closed    func(path, wl string) (closedRes, bool)
	open      func(path string, rate int) (openRes, bool)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func goVersion() string {
	out, err := exec.Command("go", "version").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func us(d time.Duration) string { return fmt.Sprintf("%d", d.Microseconds()) }

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func (r *report) rps(path, wl string) float64 {
	c, ok := r.closed(path, wl)
	if !ok {
		return 0
	}
	return c.rps
}

// header is the run's description (mode, machine, gateway).
func (r *report) header() string {
	var b strings.Builder
	mode := "full"
	if r.o.smoke {
		mode = "smoke (functional check only; numbers are not comparable)"
	}
	fmt.Fprintf(&b, "# agbench %s\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Mode: %s. Closed loop: %s with %d connections for %s per cell. Open loop: Go fixed-schedule generator over %d connections, %s per cell, JSON 1 KB.\n",
		mode, r.tool, r.o.conns, r.o.duration, r.o.openConns, r.o.openDuration)
	fmt.Fprintf(&b, "- CPU: %s, %d cores (GOMAXPROCS %d). %s, linux/%s.\n", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), goVersion(), runtime.GOARCH)
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(&b, "- Load average when the report was written: %s.\n", strings.Join(strings.Fields(string(l))[:3], " "))
	}
	fmt.Fprintf(&b, "- Gateway: `%s`.\n", r.gwVersion)
	if len(r.o.gatewayEnv) > 0 {
		fmt.Fprintf(&b, "- Gateway environment (gateway processes only): `%s`.\n", strings.Join(r.o.gatewayEnv, " "))
	}
	b.WriteString("- Load generator, backend and proxy share these cores on 127.0.0.1; the machine may be shared with other work. Compare ratios within this run only.\n\n")
	return b.String()
}

// notesMarkdown is the Notes section (notes and failures), if any.
func (r *report) notesMarkdown() string {
	if len(r.notes) == 0 && len(r.fails) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Notes\n\n")
	for _, n := range r.notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	for _, f := range r.fails {
		fmt.Fprintf(&b, "- FAILURE: %s\n", strings.SplitN(f, "\n", 2)[0])
	}
	return b.String()
}

func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString(r.header())

	direct := "direct"
	nginxOK := false
	for _, p := range r.paths {
		if p.name == "nginx" && p.ok() {
			nginxOK = true
		}
	}

	b.WriteString("## Ratios\n\n")
	b.WriteString("Throughput is closed-loop requests per second; ×direct and ×nginx are ratios of it. Added latency is the path's open-loop percentile minus direct's at the same rate (µs). CPU is the proxy process's user+system seconds per 1,000 requests in the JSON 1 KB cell (for direct: the backend's).\n\n")
	fmt.Fprintf(&b, "| path | JSON 1 KB rps | ×direct | ×nginx | ×go-bare | SSE 1 KB ×direct | 16 KB ×direct | A2A ×direct |")
	for _, rate := range r.o.rates {
		fmt.Fprintf(&b, " added p50/p99/p99.9 @%d rps |", rate)
	}
	b.WriteString(" CPU s/1k req | RSS idle | RSS after load |\n|---|")
	for i := 0; i < 8+len(r.o.rates)+2; i++ {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, p := range r.paths {
		if !p.ok() {
			why := p.skip
			if p.broken != nil {
				why = "broken: " + strings.SplitN(p.broken.Error(), "\n", 2)[0]
			}
			fmt.Fprintf(&b, "| %s | %s |\n", p.name, why)
			continue
		}
		j := r.rps(p.name, varJSON1K)
		nx := "—"
		if nginxOK {
			nx = ratio(j, r.rps("nginx", varJSON1K))
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %s | %s |", p.name, j,
			ratio(j, r.rps(direct, varJSON1K)), nx, ratio(j, r.rps("go-bare", varJSON1K)),
			ratio(r.rps(p.name, varSSE1K), r.rps(direct, varSSE1K)),
			ratio(r.rps(p.name, varJSON16K), r.rps(direct, varJSON16K)),
			ratio(r.rps(p.name, varA2A), r.rps(direct, varA2A)))
		for _, rate := range r.o.rates {
			o, ok1 := r.open(p.name, rate)
			d, ok2 := r.open(direct, rate)
			if !ok1 || !ok2 {
				b.WriteString(" — |")
				continue
			}
			if p.name == direct {
				b.WriteString(" 0 (baseline) |")
				continue
			}
			fmt.Fprintf(&b, " %s / %s / %s |", us(o.p50-d.p50), us(o.p99-d.p99), us(o.p999-d.p999))
		}
		fmt.Fprintf(&b, " %.3f | %s | %s |\n", r.cpu[p.name], mib(p.rssIdle), mib(r.rssLoad[p.name]))
	}

	b.WriteString("\n## Closed loop, absolute\n\n")
	b.WriteString("Requests per second (errors; the load tool's p50 / p99 in µs).\n\n| path |")
	for _, w := range workloads {
		fmt.Fprintf(&b, " %s |", w.name)
	}
	b.WriteString(" backend CPU s/1k req (JSON 1 KB) |\n|---|")
	for range workloads {
		b.WriteString("---:|")
	}
	b.WriteString("---:|\n")
	for _, p := range r.paths {
		if !p.ok() {
			continue
		}
		fmt.Fprintf(&b, "| %s |", p.name)
		for _, w := range workloads {
			c, ok := r.closed(p.name, w.name)
			if !ok {
				b.WriteString(" — |")
				continue
			}
			fmt.Fprintf(&b, " %.0f (%d; %s / %s) |", c.rps, c.errs, us(c.p50), us(c.p99))
		}
		fmt.Fprintf(&b, " %.3f |\n", r.beCPU[p.name])
	}

	b.WriteString("\n## Open loop, absolute (JSON 1 KB)\n\n")
	b.WriteString("Latency from each request's scheduled send time, µs. Achieved is completed requests per second; lag is the generator's worst delay behind its schedule.\n\n")
	b.WriteString("| path | rate | p50 | p99 | p99.9 | achieved | errors | lag ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, rate := range r.o.rates {
		for _, p := range r.paths {
			o, ok := r.open(p.name, rate)
			if !ok {
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %.0f | %d | %.1f |\n", p.name, rate, us(o.p50), us(o.p99), us(o.p999), o.achievedRPS, o.errs, o.dispatcherLagMS)
		}
	}

	r.fed.markdown(&b)

	if s := r.streams; s != nil {
		b.WriteString("\n## Idle SSE streams through gateway-seed\n\n")
		perRSS, perGor := 0.0, 0.0
		if s.opened > 0 {
			perRSS = float64(s.rssOpen-s.rssBase) / float64(s.opened)
			perGor = (s.gorOpen - s.gorBase) / float64(s.opened)
		}
		fmt.Fprintf(&b, "%d MCP GET streams (one session each) opened in %s; %d established end to end.\n\n", s.n, s.openTime.Round(time.Millisecond), s.opened)
		b.WriteString("| | baseline | open | after close | per stream | back to baseline |\n|---|---:|---:|---:|---:|---|\n")
		fmt.Fprintf(&b, "| RSS | %s | %s | %s | %.1f KiB | %v |\n", mib(s.rssBase), mib(s.rssOpen), mib(s.rssClosed), perRSS/1024, s.rssReturned)
		fmt.Fprintf(&b, "| goroutines | %.0f | %.0f | %.0f | %.2f | %v |\n", s.gorBase, s.gorOpen, s.gorClosed, perGor, s.goroutinesReturned)
		if s.memOpen > 0 {
			perMem := (s.memOpen - s.memBase) / float64(max(s.opened, 1))
			fmt.Fprintf(&b, "| Go heap + stacks in use | %s | %s | %s | %.1f KiB | %v |\n", mib(int64(s.memBase)), mib(int64(s.memOpen)), mib(int64(s.memClosed)), perMem/1024, s.memReturned)
		}
		if s.settledAfter > 0 {
			fmt.Fprintf(&b, "\nAll back to baseline %s after the streams closed.\n", s.settledAfter.Round(100*time.Millisecond))
		}
		fmt.Fprintf(&b, "\n\"Back to baseline\": goroutines within 10 of the baseline; memory within a fifth of the growth (at least 4 MiB), polled for up to %s after closing (a short burst of requests part-way through lets the idle runtime run a GC; the runtime also forces one every 2 minutes). The Go runtime hands freed pages back to the kernel gradually, so RSS lags the runtime's in-use figures.\n", s.wait)
	}

	// Targets from issue #8, informational: benchmarks never fail a build.
	if seed := r.find("gateway-seed"); seed != nil && seed.ok() && !r.o.smoke {
		b.WriteString("\n## gateway-seed against the issue #8 targets (informational)\n\n| target | measured | met |\n|---|---:|---|\n")
		j := r.rps("gateway-seed", varJSON1K)
		row := func(name, val string, met bool) { fmt.Fprintf(&b, "| %s | %s | %v |\n", name, val, met) }
		if d := r.rps(direct, varJSON1K); d > 0 {
			row("≥ 0.35× direct at 32 conns, 1 KB (stretch 0.5×)", ratio(j, d), j/d >= 0.35)
		}
		if n := r.rps("nginx", varJSON1K); n > 0 {
			row("≥ 0.6× nginx", ratio(j, n), j/n >= 0.6)
		}
		if g := r.rps("go-bare", varJSON1K); g > 0 {
			row("≥ 0.85× go-bare", ratio(j, g), j/g >= 0.85)
		}
		if o, ok := r.open("gateway-seed", 1000); ok {
			if d, ok := r.open(direct, 1000); ok {
				add := o.p99 - d.p99
				row("p99 added ≤ 1 ms at 1k rps", us(add)+" µs", add <= time.Millisecond)
			}
		}
		row("idle RSS ≤ 30 MB", mib(seed.rssIdle), seed.rssIdle <= 30e6)
		if s := r.streams; s != nil && s.opened > 0 {
			per := float64(s.rssOpen-s.rssBase) / float64(s.opened)
			g := (s.gorOpen - s.gorBase) / float64(s.opened)
			row("≤ 16 KiB per idle SSE stream", fmt.Sprintf("%.1f KiB", per/1024), per <= 16*1024)
			row("≤ 2 goroutines per idle SSE stream", fmt.Sprintf("%.2f", g), g <= 2)
		}
		b.WriteString("\nThe JWT and authz + rate-limit microbenchmark targets come from `go test -bench` (the second half of `make bench`).\n")
	}

	b.WriteString(r.notesMarkdown())
	return b.String()
}

func (r *report) find(name string) *benchPath {
	for _, p := range r.paths {
		if p.name == name {
			return p
		}
	}
	return nil
}
