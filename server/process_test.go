//go:build linux

package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

// The process test's numbers: the child's descriptor limit, and more idle
// keep-alive connections than it has descriptors.
const (
	childNofile = 256
	idleConns   = 300
	// probeBound is what kubelet would wait: a probe slower than this is
	// a failed probe.
	probeBound = time.Second
)

// child serves the process test's traffic port (GET / answers at once,
// GET /block holds its request until the client goes) and an admin port
// (/livez, and /stats with the cap's counts), each on its own listener,
// prints both addresses and the cap, and runs until stdin closes. mode
// "capped" serves the traffic port through Limit with the default cap,
// "uncapped" without it.
func child(mode string) int {
	switch mode {
	case "profiler", "profiler-unstopped":
		return profilerChild(mode)
	case "admin-capped", "admin-uncapped":
		return adminChild(mode)
	}
	traffic := http.NewServeMux()
	traffic.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	traffic.HandleFunc("GET /block", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	srv := New("", traffic)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var served net.Listener = ln
	var capped *Listener
	if mode == "capped" {
		capped = Limit(srv, ln, 0)
		served = capped
	}
	admin := http.NewServeMux()
	admin.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	admin.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		var st Stats
		if capped != nil {
			st = capped.Stats()
		}
		_ = json.NewEncoder(w).Encode(st)
	})
	adminSrv := New("", admin)
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { _ = srv.Serve(served) }()
	go func() { _ = adminSrv.Serve(aln) }()
	fmt.Printf("traffic=%s admin=%s max=%d\n", ln.Addr(), aln.Addr(), DefaultMaxConns())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// proc is a running child.
type proc struct {
	traffic, admin string
	max            int
	stderr         *testenv.LogBuffer
}

// startChild runs this test binary as the child server under
// prlimit --nofile=childNofile, and stops it when the test ends.
func startChild(t *testing.T, mode string) *proc {
	t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		testenv.Missing(t, "prlimit", "apt-get install util-linux")
	}
	cmd := exec.Command(prlimit, fmt.Sprintf("--nofile=%d", childNofile), os.Args[0]) // #nosec G204 -- this test binary
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{stderr: new(testenv.LogBuffer)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the child exits when its stdin closes
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("child: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("child still running 10s after its stdin closed")
		}
		if t.Failed() {
			t.Logf("child's stderr:\n%s", p.stderr)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child's first line: %v; stderr:\n%s", err, p.stderr)
	}
	if _, err := fmt.Sscanf(line, "traffic=%s admin=%s max=%d", &p.traffic, &p.admin, &p.max); err != nil {
		t.Fatalf("child's first line %q: %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }() // ends when the child exits
	return p
}

// prober GETs /livez on the admin port, each time on a new connection as
// kubelet does, every 10ms until stop, and records the slowest answer and
// every failure.
type prober struct {
	url     string
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	n       int
	slowest time.Duration
	fails   []string
}

func startProber(t *testing.T, admin string) *prober {
	pr := &prober{url: "http://" + admin + "/livez", stop: make(chan struct{})}
	c := &http.Client{Timeout: probeBound, Transport: &http.Transport{DisableKeepAlives: true}}
	pr.wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			start := time.Now()
			err := getOK(c, pr.url)
			took := time.Since(start)
			pr.mu.Lock()
			pr.n++
			pr.slowest = max(pr.slowest, took)
			if err != nil {
				pr.fails = append(pr.fails, fmt.Sprintf("after %v: %v", took.Round(time.Millisecond), err))
			}
			pr.mu.Unlock()
			select {
			case <-pr.stop:
				return
			case <-tick.C:
			}
		}
	})
	t.Cleanup(pr.finish)
	return pr
}

// once probes now, beside the background probes, and fails the test
// unless /livez answers 200 within probeBound.
func (pr *prober) once(t *testing.T, when string) {
	t.Helper()
	c := &http.Client{Timeout: probeBound, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	if err := getOK(c, pr.url); err != nil {
		t.Errorf("/livez %s: %v after %v", when, err, time.Since(start))
	}
}

// finish stops the prober; a second call does nothing.
func (pr *prober) finish() {
	select {
	case <-pr.stop:
	default:
		close(pr.stop)
	}
	pr.wg.Wait()
}

// check stops the prober and fails the test unless every probe answered
// 200 within probeBound.
func (pr *prober) check(t *testing.T) {
	t.Helper()
	pr.finish()
	n, slowest, fails := pr.report()
	t.Logf("/livez: %d probes, the slowest %v", n, slowest.Round(time.Millisecond))
	if len(fails) > 0 || slowest >= probeBound {
		t.Errorf("/livez failed %d of %d probes (slowest %v): %v", len(fails), n, slowest, fails)
	}
}

func (pr *prober) report() (n int, slowest time.Duration, fails []string) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.n, pr.slowest, pr.fails
}

func getOK(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// rawConn is one client connection held by the test, HTTP/1.1 by hand so
// that the test decides exactly when it is idle.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// get sends GET path and reads the response head (and, unless path blocks,
// the body) within bound.
func (c *rawConn) get(path string, bound time.Duration) (*http.Response, error) {
	_ = c.SetDeadline(time.Now().Add(bound))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: t\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, err
	}
	if path != "/block" {
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	return resp, err
}

func stats(t *testing.T, p *proc) Stats {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestProcessConnCap: a server under prlimit --nofile=256 whose traffic
// port is capped with the default cap. A client holds 300 idle keep-alive
// connections to the traffic port, then fills the cap with requests in
// flight. Throughout, /livez on the admin port answers 200 in under a
// second; a new traffic connection is served while idle connections can
// make room for it, and refused with a prompt 503 once none can; when the
// requests end the port serves again.
func TestProcessConnCap(t *testing.T) {
	p := startChild(t, "capped")
	if want := maxConnsFor(childNofile); p.max != want {
		t.Fatalf("child's cap %d, want %d of %d descriptors", p.max, want, childNofile)
	}
	pr := startProber(t, p.admin)

	// Phase 1: 300 idle keep-alive connections, each used once and held.
	// The server closes the longest idle ones to stay at the cap.
	var slowest time.Duration
	for i := range idleConns {
		c := dialRaw(t, p.traffic)
		start := time.Now()
		resp, err := c.get("/", 2*time.Second)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("idle connection %d: %v %v", i, status(resp), err)
		}
		slowest = max(slowest, time.Since(start))
	}
	st := stats(t, p)
	t.Logf("%d keep-alive connections, each served in %v at most; the server holds %d (cap %d) and closed %d idle ones to make room",
		idleConns, slowest.Round(time.Millisecond), st.Open, st.Max, st.Evicted)
	if st.Open > p.max || st.Evicted < uint64(idleConns-p.max) {
		t.Errorf("stats %+v: want at most %d open and at least %d evicted", st, p.max, idleConns-p.max)
	}
	pr.once(t, "with 300 idle connections held")

	// Phase 2: the cap filled with requests in flight (each evicts one of
	// the idle connections); a new connection is refused at once.
	blocked := make([]*rawConn, p.max)
	for i := range blocked {
		blocked[i] = dialRaw(t, p.traffic)
		resp, err := blocked[i].get("/block", 2*time.Second)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("request in flight %d: %v %v", i, status(resp), err)
		}
	}
	if st := stats(t, p); st.Open != p.max || st.Idle != 0 {
		t.Fatalf("with %d requests in flight: %+v", p.max, st)
	}
	pr.once(t, "with the cap full of requests in flight")
	for i := range 5 {
		c := dialRaw(t, p.traffic)
		start := time.Now()
		resp, err := c.get("/", 2*time.Second)
		took := time.Since(start)
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("connection %d over the cap: %v %v after %v, want a 503 with Retry-After", i, status(resp), err, took)
		} else if took > probeBound {
			t.Errorf("connection %d over the cap: refused after %v, want under %v", i, took, probeBound)
		} else {
			t.Logf("connection %d over the cap: %s after %v", i, resp.Status, took.Round(time.Millisecond))
		}
		_ = c.Close()
	}

	// Phase 3: the requests end; the port serves new connections again.
	for _, c := range blocked {
		_ = c.Close()
	}
	c := dialRaw(t, p.traffic)
	resp, err := c.get("/", 2*time.Second)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("after the requests ended: %v %v, want 200", status(resp), err)
	}

	pr.check(t)
}

// TestProcessWithoutCap is the fault the cap exists for, reproduced by the
// same client: without Limit, 300 idle keep-alive connections take the
// process's descriptors, and the admin port can no longer accept /livez.
// If this ever passes probes, TestProcessConnCap proves nothing.
func TestProcessWithoutCap(t *testing.T) {
	p := startChild(t, "uncapped")
	conns := make([]*rawConn, idleConns)
	for i := range conns {
		conns[i] = dialRaw(t, p.traffic) // the kernel completes the handshake even when the process cannot accept
		if _, err := io.WriteString(conns[i], "GET / HTTP/1.1\r\nHost: t\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	var held, unanswered int
	answered := time.Now().Add(time.Second) // one bound for them all
	for _, c := range conns {
		_ = c.SetReadDeadline(answered)
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			unanswered++
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		held++
	}
	c := &http.Client{Timeout: probeBound, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	err := getOK(c, "http://"+p.admin+"/livez")
	t.Logf("without the cap: %d connections served and held, %d never answered; /livez: %v after %v",
		held, unanswered, err, time.Since(start).Round(time.Millisecond))
	if err == nil {
		t.Errorf("/livez answered with %d idle connections held: the fault did not reproduce", held)
	}
}

// status is resp's status line, or "no response".
func status(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}
