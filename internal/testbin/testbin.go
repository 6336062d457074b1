// Package testbin finds the external programs tests drive (curl,
// promtool, redis-server, helm, kube-apiserver, Jaeger, ...). `make test`
// installs or builds them (scripts/deps.sh and the *-bin.sh scripts); in
// CI (CI=true) a missing one fails the test, never skips it. This package
// is the one place that rule lives.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Need returns the path of the program name on $PATH, or fails the test
// in CI and skips it elsewhere; hint says how to install it.
func Need(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not found (%s): %v", name, hint, err)
	}
	return p
}

// Executable returns path if it is an executable file, or fails the test
// in CI and skips it elsewhere; hint says how to build it.
func Executable(t testing.TB, path, hint string) string {
	t.Helper()
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		Missing(t, "%s is missing; %s", path, hint)
	}
	return path
}

// Missing reports a test dependency that is not there: a failure in CI,
// a skip on a developer machine without it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a missing test dependency is a failure, not a skip)")
	}
	t.Skip(msg)
}
