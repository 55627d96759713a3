package memlimit

import (
	"testing"

	"go.uber.org/goleak"
)

// Apply starts no goroutine, and Follow's returns with it: the check
// keeps it that way.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
