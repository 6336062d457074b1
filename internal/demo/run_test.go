package demo

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gateway"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/all"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// curlCommands extracts the curl commands the demo prints, joining
// backslash-continued lines, exactly as a user would paste them.
func curlCommands(text string) []string {
	var out []string
	var cur strings.Builder
	in := false
	for _, line := range strings.Split(text, "\n") {
		if !in && strings.HasPrefix(line, "curl ") {
			in = true
		}
		if !in {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
		in = false
	}
	return out
}

// TestDemoCurlCommandsWork runs the demo and pastes every printed curl
// command into a shell.
func TestDemoCurlCommandsWork(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is required in CI (scripts/deps.sh installs it)")
		}
		t.Skip("curl not installed")
	}
	port, admin := freePort(t), freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Port: port, AdminPort: admin, Stdout: &stdout, Stderr: &stderr, Ready: func(*gateway.Gateway) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo exited: %v\n%s", err, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("demo not ready")
	}
	cmds := curlCommands(stdout.String())
	if len(cmds) < 5 {
		t.Fatalf("found %d curl commands in:\n%s", len(cmds), stdout.String())
	}
	wants := []string{`"result"`, `get_weather_data`, `NOT EXECUTED`, `"kind":"message"`, `weather-agent-v6`, `ready`}
	for i, c := range cmds {
		out, err := exec.Command("bash", "-c", c+" --max-time 10 --fail-with-body").CombinedOutput()
		if err != nil {
			t.Fatalf("command %d failed: %v\n%s\n%s", i, err, c, out)
		}
		if i < len(wants) && !bytes.Contains(out, []byte(wants[i])) {
			t.Errorf("command %d output lacks %q:\n%s\n%s", i, wants[i], c, out)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
