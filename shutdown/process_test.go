//go:build unix

package shutdown

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

// proc is a running test server (internal/testserver).
type proc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *testenv.LogBuffer
	exited chan struct{}
}

func startChild(t *testing.T, args ...string) *proc {
	t.Helper()
	path := buildChild(t)
	stdout := &testenv.LogBuffer{}
	p := &proc{cmd: exec.Command(path, args...), stderr: &testenv.LogBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = stdout, p.stderr
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
	p.addr = "http://" + stdout.WaitLine(t, "127.0.0.1:", 10*time.Second)
	return p
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
