//go:build !unix

package server

// nofile reports that the platform has no descriptor limit to read.
func nofile() (uint64, bool) { return 0, false }
