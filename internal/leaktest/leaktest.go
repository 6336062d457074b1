// Package leaktest fails a test binary whose goroutines outlive its tests.
package leaktest

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Main runs the tests, then fails the binary if goroutines outlive them.
// The tests' own clients use http.DefaultTransport, whose idle keep-alive
// connections are closed first: they belong to the tests, not the code
// under test. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines outlived the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
