//go:build !unix

package secrets

// openFlags: Windows and Plan 9 have no FIFO that blocks an open.
const openFlags = 0
