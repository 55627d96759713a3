//go:build race

package e2e

// Race is true when the tests run with the race detector; Build then
// builds the services with it too, so a race in a service fails the run.
const Race = true
