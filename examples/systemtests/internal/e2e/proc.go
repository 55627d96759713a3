//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Binaries are the paths of the services Build compiled.
type Binaries struct{ Catalog, Orders string }

// Main runs the tests of a package from its TestMain: build gets a new
// directory to put binaries in, the tests run under goleak, and the
// directory is removed at the end. It does not return.
func Main(m *testing.M, build func(dir string) error) {
	dir, err := os.MkdirTemp("", "prodready-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// examplesModule is the module the services are in.
const examplesModule = "github.com/prodready/prodready/examples"

// Build compiles both services into dir, with the race detector when race
// is true. It builds in the examples module's directory, as that module
// (in the workspace or, with GOWORK=off, alone): this module's go.sum
// holds only what the tests import, not everything the services do.
func Build(dir string, race bool) (Binaries, error) {
	// #nosec G204 -- the go command with fixed arguments.
	modDir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", examplesModule).Output()
	if err != nil {
		return Binaries{}, fmt.Errorf("go list -m %s: %w", examplesModule, err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return Binaries{}, err
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./catalog", "./orders")
	// #nosec G204 -- the go command with fixed package paths; only -race varies.
	cmd := exec.Command("go", args...)
	cmd.Dir = strings.TrimSpace(string(modDir))
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), cmd.Dir, err, out)
	}
	return Binaries{Catalog: filepath.Join(dir, "catalog"), Orders: filepath.Join(dir, "orders")}, nil
}

// Proc is a service running as a real process: its stdout lines kept for
// the test, its exit status collected.
type Proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every new line

	stderr  syncBuffer
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// syncBuffer is a bytes.Buffer for a writer and readers on other
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs binary with args and only the environment given (plus PATH),
// so nothing of the developer's OTEL_* or LOG_LEVEL leaks in. The process
// is killed when the test ends if it is still running; on failure its
// output goes into the test log.
func Start(t testing.TB, name, binary string, env []string, args ...string) *Proc {
	t.Helper()
	// #nosec G204 -- the binaries are the ones Build built.
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p := &Proc{t: t, name: name, cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
	cmd.Stderr = &p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go p.read(stdout)
	t.Cleanup(func() {
		if p.Running() {
			_ = cmd.Process.Kill()
		}
		<-p.done
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, strings.Join(p.Lines(), "\n"), name, p.stderr.String())
		}
	})
	return p
}

// read collects stdout until the process closes it, then reaps the
// process: Wait must not run before the reads are done.
func (p *Proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
	p.waitErr = p.cmd.Wait()
	close(p.done)
}

// Name is the name the process was started with.
func (p *Proc) Name() string { return p.name }

// PID is the process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stderr returns what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Lines returns the stdout lines so far.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Logs returns the stdout lines so far as JSON objects and fails the test
// on any line that is not one.
func (p *Proc) Logs() []map[string]any {
	p.t.Helper()
	var out []map[string]any
	for i, line := range p.Lines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			p.t.Errorf("%s stdout line %d is not a JSON object: %v: %s", p.name, i+1, err, line)
			continue
		}
		out = append(out, m)
	}
	return out
}

// WaitLog waits until a log line satisfies match and returns it.
func (p *Proc) WaitLog(ctx context.Context, match func(map[string]any) bool) (map[string]any, error) {
	seen := 0
	for {
		p.mu.Lock()
		lines, changed := p.lines[seen:], p.changed
		seen = len(p.lines)
		p.mu.Unlock()
		for _, line := range lines {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && match(m) {
				return m, nil
			}
		}
		select {
		case <-changed:
		case <-p.done:
			return nil, fmt.Errorf("%s exited before the log line came", p.name)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// WaitLines waits until p has logged at least n lines that match and
// returns them all; the access line of a request is written after its
// answer, so a test must wait for it.
func (p *Proc) WaitLines(match func(map[string]any) bool, n int, within time.Duration) []map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var got []map[string]any
		for _, l := range p.Logs() {
			if match(l) {
				got = append(got, l)
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) < n {
				p.t.Fatalf("%s logged %d matching lines within %v, want %d", p.name, len(got), within, n)
			}
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// Exit waits for the process to exit and returns its exit code.
func (p *Proc) Exit(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
	var exit *exec.ExitError
	if errors.As(p.waitErr, &exit) {
		return exit.ExitCode()
	}
	if p.waitErr != nil {
		p.t.Fatalf("%s: %v", p.name, p.waitErr)
	}
	return 0
}

// Run runs binary to completion (a subcommand such as migrate or
// healthcheck) and returns its exit code and combined output.
func Run(t testing.TB, binary string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// #nosec G204 -- the binaries are the ones Build built.
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	case err != nil:
		t.Fatalf("%s %v: %v\n%s", binary, args, err, out)
	}
	return 0, string(out)
}
