// Package testbin finds the external programs tests drive (curl,
// promtool, ...). `make test` installs them (scripts/deps.sh); in CI
// (CI=true) a missing one fails the test, never skips it.
package testbin

import (
	"os"
	"os/exec"
	"testing"
)

// Need returns the path of the program name, or fails the test in CI and
// skips it elsewhere; hint says how to install it.
func Need(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (%s): %v", name, hint, err)
	}
	t.Skipf("%s not found; %s: %v", name, hint, err)
	return ""
}
