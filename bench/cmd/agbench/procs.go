package main

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/devissuer"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/agentgateway-go/agentgateway/bench/gwconfig"
)

// proc is a child process the harness started and will stop.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string // file holding its stdout and stderr
}

func startProc(name, logPath string, argv []string, env []string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// Children die with the harness even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to this process (only this pid), then SIGKILL after 5s.
func (p *proc) stop() {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) tailLog(n int) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitHTTP polls url until it answers 200 or the process exits.
func waitHTTP(p *proc, url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited early:\n%s", p.name, p.tailLog(4000))
		}
		resp, err := c.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	name := "process"
	if p != nil {
		name = p.name
		return fmt.Errorf("%s not ready at %s within %s:\n%s", name, url, d, p.tailLog(4000))
	}
	return fmt.Errorf("%s not ready at %s within %s", name, url, d)
}

// freePort returns a loopback port that was free a moment ago.
func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// --- /proc accounting ---

const clkTck = 100 // USER_HZ on Linux

// cpuTicks returns utime+stime of pid in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short stat")
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st, nil
}

// children returns the pids whose parent is pid (nginx's workers).
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}

// rssBytes returns VmRSS of pid.
func rssBytes(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fs := strings.Fields(v)
			if len(fs) > 0 {
				n, _ := strconv.ParseInt(fs[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}

// pids is the set of processes one path's cost is charged to.
func (p *proc) pids() []int {
	if p == nil {
		return nil
	}
	if p.name == "nginx" {
		return append([]int{p.pid()}, children(p.pid())...)
	}
	return []int{p.pid()}
}

func cpuOf(pids []int) int64 {
	var t int64
	for _, pid := range pids {
		n, _ := cpuTicks(pid)
		t += n
	}
	return t
}

func rssOf(pids []int) int64 {
	var t int64
	for _, pid := range pids {
		t += rssBytes(pid)
	}
	return t
}

// scrapeGauge reads one unlabelled sample (e.g. go_goroutines) from a
// Prometheus text endpoint.
func scrapeGauge(url, name string) (float64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s not found at %s", name, url)
}

// --- JWKS and tokens ---

const (
	issuer      = gwconfig.Issuer
	audience    = gwconfig.Audience
	subWeather  = gwconfig.SubWeather
	subPlanning = gwconfig.SubPlanning
)

type issuerKeys struct {
	key     *rsa.PrivateKey
	JWKSURL string
	srv     *http.Server
}

func startIssuer() (*issuerKeys, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []any{devissuer.JWK(&key.PublicKey, "bench-k1", "RS256")}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &issuerKeys{key: key, JWKSURL: "http://" + ln.Addr().String() + "/jwks", srv: srv}, nil
}

func (k *issuerKeys) token(sub string) (string, error) {
	now := time.Now()
	tok := jwtlib.NewWithClaims(jwtlib.SigningMethodRS256, jwtlib.MapClaims{
		"iss": issuer, "aud": []string{audience}, "sub": sub,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(),
	})
	tok.Header["kid"] = "bench-k1"
	return tok.SignedString(k.key)
}

// --- nginx ---

func nginxConf(dir string, port int, upstream string) string {
	user := ""
	if os.Geteuid() == 0 {
		// Workers otherwise switch to "nobody" and cannot use the temp dirs.
		user = "user root;\n"
	}
	return fmt.Sprintf(`%sworker_processes auto;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 32768; }
http {
  access_log off;
  client_body_temp_path %[2]s/client_body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  upstream backend {
    server %[3]s;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:%[4]d;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`, user, dir, upstream, port)
}

func startNginx(bin, root string, port int, upstream string) (*proc, error) {
	dir := filepath.Join(root, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(dir, port, upstream)), 0o644); err != nil {
		return nil, err
	}
	return startProc("nginx", filepath.Join(dir, "stdout.log"),
		[]string{bin, "-p", dir + "/", "-c", conf, "-e", filepath.Join(dir, "error.log")}, nil)
}
