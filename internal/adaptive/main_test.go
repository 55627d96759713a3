package adaptive

import (
	"testing"

	"go.uber.org/goleak"
)

// The simulated services run goroutines: none may outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
