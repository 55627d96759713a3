// Package testenv decides what a test does when a real dependency it needs
// (Postgres, Docker, promtool) is missing: in CI (CI=true) that is a
// failure, because a test that can only skip there proves nothing;
// elsewhere it is a skip that says how to get the dependency.
package testenv

import (
	"os"
	"strconv"
	"testing"
)

// InCI reports whether the tests run in CI, where nothing may be skipped for
// a missing dependency.
func InCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// Missing stops the test because what is not available: it fails in CI and
// skips elsewhere, telling the reader how to get it. how says whether
// ./scripts/setup installs it: only the caller knows.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is not available, and CI=true forbids skipping: %s", what, how)
	}
	t.Skipf("skipping: %s is not available (%s)", what, how)
}
