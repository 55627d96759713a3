//go:build linux

package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

// profilerChild serves the profiler on an admin port until SIGTERM, then
// shuts the server down with a 3s budget: exit 0 when it stopped within
// it, 1 when a request held it. mode "profiler" passes the signal's
// context to StopProfiles, "profiler-unstopped" does not (the control
// case: what every service did before).
func profilerChild(mode string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var opts []ProfilerOption
	if mode == "profiler" {
		opts = append(opts, StopProfiles(ctx))
	}
	srv := New("", Profiler(opts...))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("admin=%s\n", ln.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
		return 1
	}
	return 0
}

// startSignalChild runs this test binary as the child of mode and returns
// it with the address it printed.
func startSignalChild(t *testing.T, mode string) (*exec.Cmd, string, *testenv.LogBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0]) // #nosec G204 -- this test binary
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(testenv.LogBuffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child's first line: %v; stderr:\n%s", err, stderr)
	}
	var addr string
	if _, err := fmt.Sscanf(line, "admin=%s", &addr); err != nil {
		t.Fatalf("child's first line %q: %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return cmd, addr, stderr
}

// sigtermDuringProfile starts a 40s CPU profile (allowed: below the 45s
// write timeout), sends SIGTERM once it runs, and returns the child's
// exit code and how long after the signal it exited.
func sigtermDuringProfile(t *testing.T, mode string) (code int, took time.Duration, stderr *testenv.LogBuffer) {
	cmd, addr, stderr := startSignalChild(t, mode)
	profile := make(chan error, 1)
	go func() {
		c := &http.Client{Timeout: 20 * time.Second}
		resp, err := c.Get("http://" + addr + "/debug/pprof/profile?seconds=40")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		profile <- err
	}()
	time.Sleep(300 * time.Millisecond) // the profile is under way: its headers are not sent before it ends
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	took = time.Since(start)
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatal(err)
	}
	if mode == "profiler" {
		if err := <-profile; err != nil {
			t.Errorf("the profile in progress: %v, want it sent as it stood", err)
		}
	}
	return code, took, stderr
}

// TestProcessProfileAtSIGTERM: a CPU profile in progress ends when SIGTERM
// begins the shutdown, and the server stops within its budget: exit 0
// (12ms after SIGTERM without the race detector, about 1s with it).
func TestProcessProfileAtSIGTERM(t *testing.T) {
	code, took, stderr := sigtermDuringProfile(t, "profiler")
	t.Logf("exit %d %v after SIGTERM", code, took.Round(time.Millisecond))
	if code != 0 || took >= 3*time.Second { // exit 0 means Shutdown finished within its 3s budget
		t.Errorf("exit %d after %v, want 0 within the 3s budget; stderr:\n%s", code, took, stderr)
	}
}

// TestProcessProfileAtSIGTERMUnstopped is the fault, reproduced: without
// StopProfiles the profile holds the server past its shutdown budget.
func TestProcessProfileAtSIGTERMUnstopped(t *testing.T) {
	code, took, _ := sigtermDuringProfile(t, "profiler-unstopped")
	t.Logf("without StopProfiles: exit %d %v after SIGTERM", code, took.Round(time.Millisecond))
	if code == 0 {
		t.Errorf("exit 0 after %v: the fault did not reproduce", took)
	}
}
