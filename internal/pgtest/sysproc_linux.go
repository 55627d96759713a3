//go:build linux

package pgtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// sysProcAttr runs a child as cred (nil: as ourselves). If the test process
// dies without cleaning up, the kernel tells the server to quit at once
// rather than leave it running on the port.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}

// children returns the processes whose parent is pid, from /proc.
func children(pid int) ([]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, path := range stats {
		b, err := os.ReadFile(path) // #nosec G304 -- /proc/PID/stat
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		end := bytes.LastIndexByte(b, ')')
		if end < 0 {
			continue
		}
		fields := bytes.Fields(b[end+1:])
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(string(fields[1])); err == nil && ppid == pid {
			if kid, err := strconv.Atoi(filepath.Base(filepath.Dir(path))); err == nil {
				out = append(out, kid)
			}
		}
	}
	return out, nil
}
