package gatewaytest

import (
	"net"
	"sync"
	"testing"
)

var usedPorts sync.Map

// FreePort returns a free 127.0.0.1 port, never one it returned before in
// this test binary: the kernel may hand the same ephemeral port to two
// consecutive listen-and-close probes, and a test that needs a bind port
// and an admin port needs two distinct ones.
//
// It is for a gateway the test runs in its own process, which binds at
// once. A child process binds later, and an outgoing connection may take
// an ephemeral port in between: the harnesses that start one (test/e2e,
// redistest, kubeenv, conformance) pick outside the ephemeral range, each
// in its own part of the port space.
func FreePort(t testing.TB) int {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if _, dup := usedPorts.LoadOrStore(port, true); !dup {
			return port
		}
	}
}
