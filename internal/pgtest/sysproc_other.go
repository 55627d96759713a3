//go:build unix && !linux

package pgtest

import (
	"errors"
	"syscall"
)

// sysProcAttr runs a child as cred (nil: as ourselves).
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}

// children is not implemented without /proc: Freeze needs Linux.
func children(int) ([]int, error) {
	return nil, errors.New("finding a process's children needs Linux's /proc")
}
