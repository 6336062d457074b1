package gateway

import (
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/leaktest"
)

// TestMain fails the package's tests if goroutines outlive them: the
// gateway owns listeners, upstream connections, streams and timers, and
// every one of them must end with its request, its runtime or Shutdown.
func TestMain(m *testing.M) { leaktest.Main(m) }
