//go:build !race

package health

// raceSlack scales the wall-clock bounds of the real-network tests; see
// race_test.go.
const raceSlack = 1
