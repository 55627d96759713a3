package grpcx_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Servers, connections, streams and Watch loops are goroutines: none may
// outlive a test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
