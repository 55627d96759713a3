//go:build unix

package server

import "syscall"

// nofile returns the soft RLIMIT_NOFILE.
func nofile() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return uint64(r.Cur), true // #nosec G115 -- int64 on some BSDs, never negative
}
