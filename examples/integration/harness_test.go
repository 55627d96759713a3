//go:build unix

package integration_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// bin holds the paths of the binaries TestMain built.
var bin struct{ catalog, orders string }

func TestMain(m *testing.M) {
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
	bin.catalog, bin.orders = filepath.Join(dir, "catalog"), filepath.Join(dir, "orders")
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// build compiles both services once for the whole run, with the race
// detector when the tests have it, so a race in a service fails the run.
func build(dir string) error {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args,
		"github.com/prodready/prodready/examples/catalog",
		"github.com/prodready/prodready/examples/orders")
	cmd := exec.Command("go", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// proc is a service running as a real process: its stdout lines kept for
// the test, its exit status collected.
type proc struct {
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

// start runs binary with args and only the environment given (plus PATH),
// so nothing of the developer's OTEL_* or LOG_LEVEL leaks in. The process
// is killed when the test ends if it is still running; on failure its
// output goes into the test log.
func start(t testing.TB, name, binary string, env []string, args ...string) *proc {
	t.Helper()
	// #nosec G204 -- the binaries are the ones TestMain built.
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p := &proc{t: t, name: name, cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
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
		if p.running() {
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
func (p *proc) read(r io.Reader) {
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

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Lines returns the stdout lines so far.
func (p *proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Logs returns the stdout lines so far as JSON objects and fails the test
// on any line that is not one.
func (p *proc) Logs() []map[string]any {
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
func (p *proc) WaitLog(ctx context.Context, match func(map[string]any) bool) (map[string]any, error) {
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

// Signal sends sig to the process.
func (p *proc) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// Exit waits for the process to exit and returns its exit code.
func (p *proc) Exit(timeout time.Duration) int {
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

// run runs binary to completion (a subcommand such as migrate or
// healthcheck) and returns its exit code and combined output.
func run(t testing.TB, binary string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// #nosec G204 -- the binaries are the ones TestMain built.
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

// freeAddr returns 127.0.0.1:port for a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newClient returns an HTTP client whose idle connections are closed when
// the test ends, so goleak sees no stray connection goroutines.
func newClient(t testing.TB, timeout time.Duration) *http.Client {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// waitStatus polls url until it answers want, failing the test after
// within. It returns how long that took.
func waitStatus(t testing.TB, c *http.Client, url string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	var last string
	for {
		code, body, err := get(c, url, nil)
		if err == nil && code == want {
			return time.Since(start)
		}
		last = fmt.Sprintf("status %d, body %s, err %v", code, body, err)
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %d within %v; last: %s", url, want, within, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get sends GET url with the headers and returns the status and body.
func get(c *http.Client, url string, header http.Header) (int, []byte, error) {
	return do(c, http.MethodGet, url, header, nil)
}

func do(c *http.Client, method, url string, header http.Header, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// writeSecret writes value into dir the way the kubelet updates a mounted
// Secret: the file is a symlink through ..data to a timestamped directory,
// and an update writes a new directory and renames a new ..data symlink
// over the old one, so readers see the old or the new value, never half.
func writeSecret(t testing.TB, dir, name, value string) string {
	t.Helper()
	version := "..v" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := os.Mkdir(filepath.Join(dir, version), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, version, name), []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, name)
	if _, err := os.Lstat(link); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
	return link
}

// copyLimited copies at most 1 MiB: no answer of these services is larger.
func copyLimited(dst io.Writer, src io.Reader) (int64, error) {
	return io.Copy(dst, io.LimitReader(src, 1<<20))
}

// waitLines waits until p has logged at least n lines that match and
// returns them all; the access line of a request is written after its
// answer, so a test must wait for it.
func (p *proc) waitLines(match func(map[string]any) bool, n int, within time.Duration) []map[string]any {
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
