//go:build race

package health

// raceSlack scales the wall-clock bounds of the real-network tests: the
// race detector makes every goroutine switch several times slower.
const raceSlack = 2
