// Package bin builds the binaries the load and start-up tools measure and
// runs them on loopback: a binary measured is a binary built the way a
// user builds it, started the way a container starts it.
package bin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Build compiles the main package pkg (an import path of the workspace)
// into dir and returns the binary's path. overlay, when not empty, maps
// files of the package to replacement sources (go build -overlay), which
// is how the bare twin of an example shares its handler code byte for byte.
func Build(ctx context.Context, dir, name, pkg string, overlay map[string]string) (string, error) {
	out := filepath.Join(dir, name)
	args := []string{"build", "-o", out}
	if len(overlay) > 0 {
		spec, err := json.Marshal(map[string]map[string]string{"Replace": overlay})
		if err != nil {
			return "", err
		}
		file := filepath.Join(dir, name+".overlay.json")
		if err := os.WriteFile(file, spec, 0o600); err != nil {
			return "", err
		}
		args = append(args, "-overlay", file)
	}
	args = append(args, pkg)
	cmd := exec.CommandContext(ctx, "go", args...) // #nosec G204 -- a fixed tool with arguments of our own
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w", pkg, err)
	}
	return out, nil
}

// PackageDir is the source directory of the package pkg.
func PackageDir(ctx context.Context, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.Dir}}", pkg).Output() // #nosec G204 -- fixed tool
	if err != nil {
		return "", fmt.Errorf("go list %s: %w", pkg, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// FreeAddr returns a loopback address with a port nobody listens on now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Env is this process's environment without OTEL_* and LOG_LEVEL (so the
// measured service runs with its defaults, whatever the caller's shell
// holds), plus extra ("KEY=value").
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OTEL_") || strings.HasPrefix(kv, "LOG_LEVEL=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// Command is the binary at path with env, its output discarded (the
// service's logs are written, as in production, but nobody reads them:
// os/exec connects a nil Stdout to the null device).
func Command(path string, env []string) *exec.Cmd {
	cmd := exec.Command(path) // #nosec G204 -- a binary this tool just built
	cmd.Env = env
	return cmd
}

// Stop kills a started command and reaps it.
func Stop(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// StopWith sends sig to a started command and reaps it, killing it if
// it has not exited after grace.
func StopWith(cmd *exec.Cmd, sig os.Signal, grace time.Duration) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// errNotReady is what WaitOK's error wraps when the deadline passes first.
var errNotReady = errors.New("no 200 before the deadline")

// WaitOK polls url until it answers 200 and returns when it did. Refused
// connections are retried every poll; anything else is retried too,
// until timeout.
func WaitOK(url string, poll, timeout time.Duration) (time.Time, error) {
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Now(), nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			return time.Time{}, fmt.Errorf("%s: %w (last: %w)", url, errNotReady, err)
		}
		time.Sleep(poll)
	}
}

// Pin decides from a -pin flag's value whether to pin with taskset:
// "auto" pins when taskset is installed, the machine has two CPUs or more
// and the two CPUs asked for differ; "true" pins (an error without
// taskset); "false" does not.
func Pin(mode string, serverCPU, genCPU int) (bool, error) {
	_, tasksetErr := exec.LookPath("taskset")
	switch mode {
	case "auto":
		return tasksetErr == nil && runtime.NumCPU() >= 2 && serverCPU != genCPU, nil
	case "true":
		return tasksetErr == nil, tasksetErr
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("-pin %q: want auto, true or false", mode)
}

// OnCPU returns cmd run under taskset on cpu when pin is true (and taskset
// is installed, which Pin checked), else cmd unchanged.
func OnCPU(pin bool, cpu int, cmd *exec.Cmd) *exec.Cmd {
	if !pin {
		return cmd
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return cmd
	}
	cmd.Args = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, cmd.Args...)
	cmd.Path = taskset
	return cmd
}
