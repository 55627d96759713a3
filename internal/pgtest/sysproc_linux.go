//go:build linux

package pgtest

import "syscall"

// sysProcAttr runs a child as cred (nil: as ourselves), in a process
// group of its own, which Freeze signals whole. If the test process dies
// without cleaning up, the kernel tells the server to quit at once rather
// than leave it running on the port.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
}
