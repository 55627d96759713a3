package testenv

import "testing"

// ExtraAllocs returns how many more allocations one call of f makes than
// one call of floor, each averaged over runs calls after a warm-up call.
//
// Comparing against a floor (the same work without the code under test,
// e.g. the bare handler) rather than against a constant keeps the gate
// true under the race detector and across Go releases: both sides pay the
// same instrumentation and runtime costs, so only the difference is ours.
func ExtraAllocs(runs int, f, floor func()) float64 {
	f()
	floor()
	return testing.AllocsPerRun(runs, f) - testing.AllocsPerRun(runs, floor)
}
