package sharedstate

import (
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/leaktest"
)

// TestMain fails the package's tests if goroutines outlive them: a Store
// runs a background health check and holds Redis connections, and every
// one must end with Close.
func TestMain(m *testing.M) { leaktest.Main(m) }
