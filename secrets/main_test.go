package secrets

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The chmod test re-executes this binary as another user to run one
	// scenario; that child must not run the leak check's whole suite logic.
	if os.Getenv(childEnv) != "" {
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}
