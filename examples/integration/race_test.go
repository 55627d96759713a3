//go:build unix && race

package integration_test

// raceEnabled: the services are built with the race detector too.
const raceEnabled = true
