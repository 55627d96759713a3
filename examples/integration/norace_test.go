//go:build unix && !race

package integration_test

const raceEnabled = false
