package server

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// childEnv makes the test binary the server of process_test.go instead of
// running the tests: the process under a descriptor limit is a re-executed
// copy of this binary.
const childEnv = "PRODREADY_SERVER_TEST_CHILD"

// Servers, refusals in progress and clients' connections are goroutines:
// none may outlive a test.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	goleak.VerifyTestMain(m)
}
