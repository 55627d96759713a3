package secrets

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// childEnv makes the test binary, re-executed as another user, run one
// scenario instead of the suite.
const childEnv = "SECRETS_TEST_CHILD"

func TestMain(m *testing.M) {
	// The chmod test re-executes this binary as another user to run one
	// scenario; that child must not run the leak check's whole suite logic.
	if os.Getenv(childEnv) != "" {
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}
