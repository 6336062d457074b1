package sharedstate

import (
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/leaktest"
)

// TestMain fails the package's tests if goroutines outlive them: the
// package runs background refreshes and holds connections (JWKS and
// TokenReview clients, Redis), and every one must end with Cleanup.
func TestMain(m *testing.M) { leaktest.Main(m) }
