package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentgateway-go/agentgateway/internal/gatewaytest"
	"github.com/agentgateway-go/agentgateway/internal/testbin"

	"github.com/agentgateway-go/agentgateway/internal/devissuer"
	"github.com/agentgateway-go/agentgateway/internal/gateway"
	"github.com/agentgateway-go/agentgateway/internal/policy"
	_ "github.com/agentgateway-go/agentgateway/internal/policy/all"
)

// curlCommands extracts the curl commands the demo prints (also those
// that assign a shell variable, VAR=$(curl ...)), joining
// backslash-continued lines, exactly as a user would paste them.
func curlCommands(text string) []string {
	var out []string
	var cur strings.Builder
	in := false
	for _, line := range strings.Split(text, "\n") {
		if !in && (strings.HasPrefix(line, "curl ") || setRE.MatchString(line)) {
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

// assignments returns the NAME=value lines the demo prints (its tokens).
func assignments(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if assignRE.MatchString(line) {
			out = append(out, line)
		}
	}
	return out
}

var (
	assignRE = regexp.MustCompile(`^[A-Z_]+=[A-Za-z0-9._-]+$`)
	setRE    = regexp.MustCompile(`^[A-Z_]+=\$\(curl `)
)

// joinContinuations joins backslash-continued lines as curlCommands does.
func joinContinuations(cmd string) string { return strings.ReplaceAll(cmd, "\\\n", "") }

// TestDemoCurlCommandsWork runs the demo and pastes its token assignments
// and every printed curl command into a shell, as a user would.
func TestDemoCurlCommandsWork(t *testing.T) {
	testbin.Need(t, "curl", "scripts/deps.sh installs it")
	port, admin := gatewaytest.FreePort(t), gatewaytest.FreePort(t)
	stateDir := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr gatewaytest.LogBuffer
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Port: port, AdminPort: admin, StateDir: stateDir, Stdout: &stdout, Stderr: &stderr, Ready: func(*gateway.Gateway) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo exited: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("demo not ready")
	}
	text := stdout.String()
	vars := assignments(text)
	if len(vars) != len(tokenVars) {
		t.Fatalf("found %d token assignments in:\n%s", len(vars), text)
	}
	cmds := curlCommands(text)
	want := Instructions{Port: port, AdminPort: admin, Enforced: policy.Enforced}.commands()
	if len(cmds) != len(want) {
		t.Fatalf("found %d curl commands, want %d, in:\n%s", len(cmds), len(want), text)
	}
	prelude := strings.Join(vars, "\n") + "\n"
	for i, c := range cmds {
		w := want[i]
		if c != joinContinuations(w.cmd) {
			t.Fatalf("command %d printed as\n%s\nwant\n%s", i, c, joinContinuations(w.cmd))
		}
		// The flags go right after curl, so that they also apply inside
		// VAR=$(curl ... | ...).
		run := strings.Replace(c, "curl ", "curl --max-time 10 --fail-with-body ", 1)
		if w.sets != "" {
			run += "\nprintf %s \"$" + w.sets + "\""
		}
		out, err := exec.Command("bash", "-c", prelude+run).CombinedOutput()
		var ee *exec.ExitError
		switch {
		case w.fails && (!errors.As(err, &ee) || ee.ExitCode() != 22):
			t.Errorf("command %d: want an HTTP error (curl exit 22), got %v\n%s\n%s", i, err, c, out)
		case !w.fails && err != nil:
			t.Fatalf("command %d failed: %v\n%s\n%s", i, err, c, out)
		}
		for _, s := range w.want {
			if !bytes.Contains(out, []byte(s)) {
				t.Errorf("command %d output lacks %q:\n%s\n%s", i, s, c, out)
			}
		}
		if w.sets != "" {
			v := strings.TrimSpace(string(out))
			if v == "" || strings.ContainsAny(v, " \n'") {
				t.Fatalf("command %d set %s to %q:\n%s", i, w.sets, v, c)
			}
			// What the pasted assignment leaves in the user's shell.
			prelude += w.sets + "=" + v + "\n"
		}
	}

	// `agentgateway token` signs with the key in the state directory: its
	// tokens work against the running demo.
	key, err := devissuer.LoadKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := key.Mint(devissuer.TokenOptions{Subject: devissuer.SubjectWeatherAgent})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", "-c", fmt.Sprintf(`TOKEN=%s
curl -sS -X POST http://localhost:%d/mcp -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d '{"jsonrpc":"2.0","method":"tools/list","id":1}' --max-time 10 --fail-with-body`, tok, port)).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("get_weather_data")) {
		t.Fatalf("minted token: %v\n%s", err, out)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop")
	}
}
