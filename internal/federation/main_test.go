package federation

import (
	"testing"

	"github.com/agentgateway-go/agentgateway/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }
