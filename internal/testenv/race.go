//go:build race

package testenv

// Race reports whether the race detector is on. Tests that count
// allocations or time work use it; the detector adds both.
const Race = true
