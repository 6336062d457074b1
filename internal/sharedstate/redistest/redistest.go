// Package redistest runs a real redis-server for tests: on a loopback
// port, without persistence, killed and restarted on demand.
//
// When redis-server is not installed, Start skips the test, except in CI
// (CI=true), where it fails it: `make test` installs redis-server
// (scripts/deps.sh), so a missing one there is a broken environment.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/testbin"
)

// Server is a running (or killed) redis-server.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	args []string
	Port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *bytes.Buffer
}

// Addr returns host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// Start starts redis-server on a free loopback port and stops it when the
// test ends. args are extra redis-server arguments (e.g. "--requirepass",
// "secret").
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := testbin.Need(t, "redis-server", "run scripts/deps.sh (apt-get install redis-server)")
	s := &Server{t: t, bin: bin, dir: t.TempDir(), args: args}
	t.Cleanup(s.Kill)
	var lastErr error
	for i := 0; i < 10; i++ {
		s.Port = freePort(t)
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("starting redis-server: %v", lastErr)
	return nil
}

// freePort returns a loopback port that was free a moment ago, below the
// kernel's ephemeral range when it can: Restart binds the same port again,
// and an ephemeral port could meanwhile become the source port of some
// outgoing connection.
func freePort(t testing.TB) int {
	t.Helper()
	lo := 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &lo)
	}
	const base, span = 15000, 5000
	if lo >= base+span {
		for i := 0; i < 100; i++ {
			port := base + rand.IntN(span)
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				continue
			}
			ln.Close()
			return port
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *Server) start() error {
	args := append([]string{
		"--port", fmt.Sprint(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--loglevel", "warning"}, s.args...)
	cmd := exec.Command(s.bin, args...)
	logs := &bytes.Buffer{}
	var lmu sync.Mutex
	cmd.Stdout = lockedWriter{&lmu, logs}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			lmu.Lock()
			defer lmu.Unlock()
			return fmt.Errorf("redis-server exited: %s", strings.TrimSpace(logs.String()))
		default:
		}
		if ping(s.Addr()) == nil {
			s.mu.Lock()
			s.cmd, s.done, s.logs = cmd, done, logs
			s.mu.Unlock()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-done
	return fmt.Errorf("redis-server on port %d not ready in 10s", s.Port)
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// ping sends PING over RESP and expects an answer from a ready server.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	// A server with requirepass answers -NOAUTH: it is up.
	if l := strings.TrimSpace(line); l != "+PONG" && !strings.HasPrefix(l, "-NOAUTH") {
		return fmt.Errorf("unexpected PING reply %q", line)
	}
	return nil
}

// Kill kills the server (SIGKILL, no shutdown) and waits for it to exit.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("redis-server (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
	}
}

// Restart starts the server again on the same port, with no data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	var err error
	for i := 0; i < 20; i++ { // the port may take a moment to free up
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("restarting redis-server on port %d: %v", s.Port, err)
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}
