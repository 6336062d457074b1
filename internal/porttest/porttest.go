// Package porttest hands tests free loopback ports.
package porttest

import (
	"net"
	"sync"
	"testing"
)

var used sync.Map

// Free returns a free 127.0.0.1 port, never one it returned before in
// this test binary: the kernel may hand the same ephemeral port to two
// consecutive listen-and-close probes, and a test that needs a bind port
// and an admin port needs two distinct ones.
func Free(t testing.TB) int {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if _, dup := used.LoadOrStore(port, true); !dup {
			return port
		}
	}
}
