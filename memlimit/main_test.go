package memlimit

import (
	"testing"

	"go.uber.org/goleak"
)

// Apply starts no goroutine; the check keeps it that way.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
