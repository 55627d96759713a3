//go:build linux

package pgtest

import "syscall"

// sysProcAttr runs a child as cred (nil: as ourselves). If the test process
// dies without cleaning up, the kernel tells the server to quit at once
// rather than leave it running on the port.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}
