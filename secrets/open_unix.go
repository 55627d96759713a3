//go:build unix

package secrets

import "syscall"

// openFlags keep an open from blocking on a FIFO with no writer and from
// making a terminal device the process's controlling terminal; regular
// files ignore both.
const openFlags = syscall.O_NONBLOCK | syscall.O_NOCTTY
