package ratelimit

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if goroutines outlive them: the
// package runs background refreshes and holds connections (JWKS and
// TokenReview clients, Redis), and every one must end with Cleanup.
// The tests' own clients use http.DefaultTransport, whose idle keep-alive
// connections are closed first: they belong to the tests, not the gateway.
func TestMain(m *testing.M) {
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
