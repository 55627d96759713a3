package health

import (
	"testing"

	"go.uber.org/goleak"
)

// Interval loops and check runs are goroutines: none may outlive a test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
