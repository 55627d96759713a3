//go:build unix

package shutdown

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/internal/testenv"
)

// proc is a running test server (internal/testserver).
type proc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *testenv.LogBuffer
	exited chan struct{}
	stdout *os.File           // with a pipe for stdout: its read end, which the test may close
	out    *testenv.LogBuffer // without one: what the child wrote to stdout
}

// childOpts says how a child is started: through a wrapper command (nohup),
// or with a real pipe for stdout whose reader the test controls.
type childOpts struct {
	wrapper    string
	stdoutPipe bool
}

func startChild(t *testing.T, args ...string) *proc {
	return startChildWith(t, childOpts{}, args...)
}

func startChildWith(t *testing.T, o childOpts, args ...string) *proc {
	t.Helper()
	path := buildChild(t)
	name := path
	if o.wrapper != "" {
		name, args = o.wrapper, append([]string{path}, args...)
	}
	// #nosec G204 -- the test server built by this test, or nohup.
	p := &proc{cmd: exec.Command(name, args...), stderr: &testenv.LogBuffer{}, exited: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	stdout := &testenv.LogBuffer{}
	var lines *bufio.Reader
	if o.stdoutPipe {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		p.cmd.Stdout, p.stdout, lines = w, r, bufio.NewReader(r)
		defer func() { _ = w.Close() }() // the child has its own copy
		t.Cleanup(func() { _ = r.Close() })
	} else {
		p.cmd.Stdout, p.out = stdout, stdout
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait() // the exit status is read from ProcessState
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("child's log:\n%s", p.stderr)
		}
	})
	if lines != nil {
		line, err := lines.ReadString('\n') // the address, the child's first line
		if err != nil {
			t.Fatalf("reading the child's address: %v; its log:\n%s", err, p.stderr)
		}
		p.addr = "http://" + strings.TrimSpace(line)
		return p
	}
	p.addr = "http://" + stdout.WaitLine(t, "127.0.0.1:", 10*time.Second)
	return p
}

// stdoutLine waits for the child's stdout line containing substr.
func (p *proc) stdoutLine(t *testing.T, substr string) string {
	t.Helper()
	return p.out.WaitLine(t, substr, 10*time.Second)
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait returns the exit status and how long after since the child exited.
func (p *proc) wait(t *testing.T, since time.Time, limit time.Duration) (int, time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(limit):
		t.Fatalf("child still running %v after the signal", limit)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(since)
}

// logTime is the time of the child's first log line containing msg.
func (p *proc) logTime(t *testing.T, msg string) time.Time {
	t.Helper()
	var line struct{ Time time.Time }
	if err := json.Unmarshal([]byte(p.stderr.WaitLine(t, msg, time.Second)), &line); err != nil {
		t.Fatal(err)
	}
	return line.Time
}

type result struct {
	start time.Time
	err   error
}

func get(c *http.Client, url, want string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), want):
		return errors.New(resp.Status + ": " + string(body))
	}
	return nil
}

// SIGTERM to a real process under load: 50 keep-alive clients and 10 slow
// requests in flight. A balancer goroutine plays Kubernetes: it polls
// /readyz and, some time after it reads 503, stops sending new requests.
// Every request that began before the servers stopped gets its whole
// response; the process exits 0 within drain + slowest request + 1s.
func TestProcessDrainUnderLoad(t *testing.T) {
	const (
		drain   = 800 * time.Millisecond
		slowest = time.Second
		clients = 50
		slow    = 10
	)
	p := startChild(t, "-drain", drain.String(), "-timeout", "10s")

	stop := make(chan struct{})
	var mu sync.Mutex
	var results []result
	record := func(start time.Time, err error) {
		mu.Lock()
		results = append(results, result{start, err})
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				record(start, get(c, p.addr+"/fast", "ok"))
			}
		})
	}
	for range slow {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second}
			start := time.Now()
			record(start, get(c, p.addr+"/slow?d="+slowest.String(), "done after"))
		})
	}
	// Signal only once every slow request is in the handler.
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	for n := 0; n < slow; {
		resp, err := probe.Get(p.addr + "/inflight")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		n, _ = strconv.Atoi(string(b))
		time.Sleep(5 * time.Millisecond) // the poll period
	}

	sigterm := time.Now()
	p.signal(t, syscall.SIGTERM)

	// The balancer: readiness is polled every 20ms; endpoint removal takes
	// 100ms more to reach the clients.
	var notReadyAt time.Time
	for notReadyAt.IsZero() {
		resp, err := probe.Get(p.addr + "/readyz")
		if err != nil {
			t.Fatalf("readiness probe during the drain: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			notReadyAt = time.Now()
			break
		}
		time.Sleep(20 * time.Millisecond) // the probe period
	}
	time.Sleep(100 * time.Millisecond) // endpoint propagation
	close(stop)

	code, took := p.wait(t, sigterm, 10*time.Second)
	wg.Wait()
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if limit := drain + slowest + time.Second; took > limit {
		t.Errorf("exit %v after SIGTERM, want within drain + slowest request + 1s = %v", took, limit)
	}
	if d := notReadyAt.Sub(sigterm); d > drain {
		t.Errorf("readiness read 503 only %v after SIGTERM, after the %v drain", d, drain)
	}

	stopped := p.logTime(t, "stopping servers")
	var before, duringDrain, failed int
	for _, r := range results {
		if !r.start.Before(stopped) {
			continue
		}
		before++
		if r.start.After(sigterm) {
			duringDrain++
		}
		if r.err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("request started %v before the servers stopped failed: %v", stopped.Sub(r.start), r.err)
			}
		}
	}
	t.Logf("%d requests began before the servers stopped (%d of them during the drain), %d failed; %d in all",
		before, duringDrain, failed, len(results))
	if failed > 0 {
		t.Errorf("%d of %d requests failed", failed, before)
	}
	if duringDrain == 0 {
		t.Error("no request was served during the drain")
	}
}

// A second SIGTERM while a hook hangs exits at once with status 143.
func TestProcessSecondSignal(t *testing.T) {
	p := startChild(t, "-stuck", "-drain", "100ms", "-timeout", "20s")
	p.signal(t, syscall.SIGTERM)
	p.stderr.WaitLine(t, "stuck hook started", 5*time.Second)
	second := time.Now()
	p.signal(t, syscall.SIGTERM)
	code, took := p.wait(t, second, 5*time.Second)
	if code != 143 {
		t.Errorf("exit status %d, want 143", code)
	}
	if took > time.Second {
		t.Errorf("exit %v after the second SIGTERM, want at once", took)
	}
	p.stderr.WaitLine(t, "second signal: exiting now", time.Second)
}

// A hook that hangs past the budget: the process exits within budget + 1s
// with status 1, and the error names the hook.
func TestProcessStuckHook(t *testing.T) {
	const budget = time.Second
	p := startChild(t, "-stuck", "-drain", "100ms", "-timeout", budget.String())
	sigterm := time.Now()
	p.signal(t, syscall.SIGTERM)
	code, took := p.wait(t, sigterm, 10*time.Second)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if took > budget+time.Second {
		t.Errorf("exit %v after SIGTERM, want within the %v budget + 1s", took, budget)
	}
	p.stderr.WaitLine(t, `error: shutdown: hook "stuck" stuck: still running after`, time.Second)
}

// SIGHUP (a terminal closed, a session ended) is a graceful shutdown like
// SIGTERM: the drain, the hooks, exit 0. It used to kill the process at
// once, with no log line.
func TestProcessSIGHUP(t *testing.T) {
	p := startChild(t, "-drain", "200ms", "-timeout", "5s")
	p.signal(t, syscall.SIGHUP)
	code, _ := p.wait(t, time.Now(), 10*time.Second)
	if code != 0 {
		t.Errorf("exit status %d after SIGHUP, want 0 (state %v)", code, p.cmd.ProcessState)
	}
	p.stderr.WaitLine(t, `"cause":"shutdown: received signal hangup"`, time.Second)
	p.stderr.WaitLine(t, "draining", time.Second)
	p.stderr.WaitLine(t, `"hook":"flush"`, time.Second)
}

// Under nohup, SIGHUP was ignored when the process started; the Manager
// leaves it ignored (listening to it would undo nohup) and the service
// serves on until SIGTERM.
func TestProcessNohup(t *testing.T) {
	nohup, err := exec.LookPath("nohup")
	if err != nil {
		testenv.Missing(t, "nohup", "install coreutils")
	}
	p := startChildWith(t, childOpts{wrapper: nohup}, "-drain", "100ms", "-timeout", "5s")
	p.signal(t, syscall.SIGHUP)
	c := &http.Client{Timeout: 5 * time.Second}
	for range 5 { // a few round trips give a delivered signal time to act
		if err := get(c, p.addr+"/fast", "ok"); err != nil {
			t.Fatalf("after SIGHUP under nohup: %v", err)
		}
	}
	p.signal(t, syscall.SIGTERM)
	if code, _ := p.wait(t, time.Now(), 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	if strings.Contains(p.stderr.String(), "hangup") {
		t.Errorf("SIGHUP was acted on under nohup:\n%s", p.stderr)
	}
}

// The reader of stdout goes away (a log shipper restarted, a pipe to head):
// with the Manager handling signals, the next write fails with EPIPE and
// the service serves on and exits cleanly on SIGTERM, its last line after
// Wait included. Without it (Signals()), Go's default is to die of
// SIGPIPE on that write, exit 141 in a shell: the control case.
func TestProcessClosedStdout(t *testing.T) {
	t.Run("the Manager handles signals", func(t *testing.T) {
		p := startChildWith(t, childOpts{stdoutPipe: true}, "-drain", "100ms", "-timeout", "5s")
		_ = p.stdout.Close()
		c := &http.Client{Timeout: 5 * time.Second}
		if err := get(c, p.addr+"/print", "stdout: write /dev/stdout: broken pipe"); err != nil {
			t.Fatalf("writing to the closed stdout: %v", err)
		}
		if err := get(c, p.addr+"/fast", "ok"); err != nil {
			t.Fatalf("after the failed write: %v", err)
		}
		p.signal(t, syscall.SIGTERM)
		code, _ := p.wait(t, time.Now(), 10*time.Second)
		if code != 0 {
			t.Errorf("exit status %d (%v), want 0", code, p.cmd.ProcessState)
		}
		p.stderr.WaitLine(t, "shutdown done", time.Second)
	})
	t.Run("control: no signal handling", func(t *testing.T) {
		p := startChildWith(t, childOpts{stdoutPipe: true}, "-nosignals")
		_ = p.stdout.Close()
		c := &http.Client{Timeout: 5 * time.Second}
		_ = get(c, p.addr+"/print", "") // the process dies while writing
		p.wait(t, time.Now(), 10*time.Second)
		ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGPIPE {
			t.Errorf("child ended with %v, want killed by SIGPIPE: the test no longer shows what the Manager prevents", p.cmd.ProcessState)
		}
	})
}

// SIGTERM to a real process serving gRPC with a Watch stream open. A bare
// *grpc.Server's GracefulStop would wait for the stream for ever
// (grpc-go#2448): the budget bounds it, Stop ends it, and the process
// exits 1 naming the server, within budget + 1s. A server whose
// GracefulStop ends open streams first (grpcx.Server's) exits 0 just
// after the drain.
func TestProcessGRPCOpenStream(t *testing.T) {
	const drain, budget = 200 * time.Millisecond, 2 * time.Second
	tests := []struct {
		mode     string
		wantCode int
		within   time.Duration
	}{
		{"hold", 1, budget + time.Second},
		{"end", 0, drain + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			p := startChild(t, "-drain", drain.String(), "-timeout", budget.String(), "-grpc", tt.mode)
			addr := strings.TrimPrefix(p.stdoutLine(t, "grpc="), "grpc=")
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			watch, err := healthpb.NewHealthClient(conn).Watch(t.Context(), &healthpb.HealthCheckRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := watch.Recv(); err != nil {
				t.Fatalf("Watch: %v", err)
			}
			sigterm := time.Now()
			p.signal(t, syscall.SIGTERM)
			code, took := p.wait(t, sigterm, 10*time.Second)
			if code != tt.wantCode || took > tt.within {
				t.Errorf("exit %d after %v, want %d within %v", code, took, tt.wantCode, tt.within)
			}
			if _, err := watch.Recv(); status.Code(err) != codes.Unavailable {
				t.Errorf("the Watch ended with %v, want Unavailable", err)
			}
			if tt.wantCode == 1 {
				p.stderr.WaitLine(t, "stopped with RPCs in flight", time.Second)
			}
		})
	}
}
