//go:build unix

package integration_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/internal/otlptest"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// attempt is one request of the load: when it began, how it ended.
type attempt struct {
	id    string // its correlation ID
	began time.Time
	err   error // nil: the answer was the one wanted
}

// TestGracefulShutdownUnderLoad: SIGTERM to orders while 20 clients send
// orders and 5 slow uploads are in flight. Every request that began before
// the servers stopped succeeds, readiness is 503 during the drain, the
// process exits 0, and the spans of the answered requests reach the
// collector.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	const (
		clients    = 20
		slow       = 5
		drainDelay = time.Second
		slowBody   = 2 * time.Second // each slow upload takes this long
		// A request that began this close to the moment the listeners
		// closed may have raced the close: its connection still in the
		// kernel's accept queue, which Shutdown resets, on a machine whose
		// two cores are busy. The server never saw such a request (checked
		// below by its correlation ID); beyond the window nothing may fail.
		raceWindow = 500 * time.Millisecond
	)
	receiver := otlptest.NewReceiver(t)
	s := e2e.StartStack(t, bin, e2e.StackOptions{OTLP: receiver, DrainDelay: drainDelay, OrdersEnv: []string{
		// Export nothing until the shutdown flushes, so the spans prove it did.
		"OTEL_BSP_SCHEDULE_DELAY=600000",
		"OTEL_BSP_MAX_QUEUE_SIZE=200000",
	}})

	var mu sync.Mutex
	var attempts []attempt
	record := func(a attempt) {
		mu.Lock()
		attempts = append(attempts, a)
		mu.Unlock()
	}
	ctx, stopClients := context.WithCancel(context.Background())
	defer stopClients()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil && s.Orders.Running(); n++ {
				// The key makes the POST replayable for Go's transport, which
				// then resends it when the server closed the kept-alive
				// connection without reading it: what happens to a request
				// sent at the instant the drain turns keep-alives off, and a
				// race no server can close on its own in HTTP/1.1.
				id := fmt.Sprintf("shutdown-%d-%d", c, n)
				header := http.Header{"Idempotency-Key": {id}, "X-Correlation-Id": {id}}
				began := time.Now()
				code, body, err := e2e.Do(s.Client, http.MethodPost, s.OrdersURL+"/orders", header, []byte(`{"product_id":"p6","quantity":2}`))
				if err == nil && code != http.StatusCreated {
					err = fmt.Errorf("status %d: %s", code, body)
				}
				record(attempt{id, began, err})
				if err != nil {
					time.Sleep(10 * time.Millisecond) // refused: do not spin
				}
			}
		})
	}

	// The slow ones send half the body, then the rest after slowBody.
	slowResults := make(chan error, slow)
	halfSent := make(chan struct{}, slow)
	for range slow {
		r, w := io.Pipe()
		req, err := http.NewRequest(http.MethodPost, s.OrdersURL+"/orders", r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		go func() {
			_, _ = io.WriteString(w, `{"product_id":"p6",`)
			halfSent <- struct{}{}
			time.Sleep(slowBody)
			_, _ = io.WriteString(w, `"quantity":1}`)
			_ = w.Close()
		}()
		go func() {
			resp, err := s.Client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					err = fmt.Errorf("slow request: status %d", resp.StatusCode)
				}
			}
			slowResults <- err
		}()
	}
	// A pipe write returns once the transport has taken the bytes, after
	// the request's headers: every slow upload is on the wire, and the
	// drain delay leaves orders time to take it in before it stops.
	for range slow {
		select {
		case <-halfSent:
		case <-time.After(10 * time.Second):
			t.Fatal("the slow uploads did not start within 10s")
		}
	}

	// Watch readiness through the drain until the admin port closes.
	readiness := make(chan []int, 1)
	go func() {
		var seen []int
		for {
			code, _, err := e2e.Get(s.Client, s.OrdersAdmin+"/readyz", nil)
			if err != nil {
				readiness <- seen
				return
			}
			seen = append(seen, code)
			time.Sleep(25 * time.Millisecond)
		}
	}()

	s.Orders.Signal(syscall.SIGTERM)
	if code := s.Orders.Exit(20 * time.Second); code != 0 {
		t.Errorf("orders exited %d after SIGTERM, want 0", code)
	}
	stopClients()
	wg.Wait()

	for range slow {
		if err := <-slowResults; err != nil {
			t.Errorf("slow request in flight at SIGTERM failed: %v", err)
		}
	}
	seen := <-readiness
	saw503 := false
	for _, code := range seen {
		saw503 = saw503 || code == http.StatusServiceUnavailable
	}
	if !saw503 {
		t.Errorf("readiness during the drain: %v, want 503 before the port closed", seen)
	}

	// When the servers stopped, by orders' own log.
	stopping, err := s.Orders.WaitLog(context.Background(), func(l map[string]any) bool { return l["msg"] == "stopping servers" })
	if err != nil {
		t.Fatalf("no \"stopping servers\" line: %v", err)
	}
	stoppedAt, err := time.Parse(time.RFC3339Nano, stopping["time"].(string))
	if err != nil {
		t.Fatal(err)
	}
	handled := map[string]bool{} // correlation IDs of the requests orders answered
	for _, l := range s.Orders.Logs() {
		if id, _ := l["correlation_id"].(string); id != "" && l["status"] != nil {
			handled[id] = true
		}
	}
	var ok, failedBefore, failedInWindow, failedAfter int
	for _, a := range attempts {
		switch {
		case a.err == nil:
			ok++
		case handled[a.id]:
			failedBefore++
			t.Errorf("request %s was answered by orders but its client got %v", a.id, a.err)
		case a.began.Before(stoppedAt.Add(-raceWindow)):
			failedBefore++
			t.Errorf("request begun %v before the servers stopped failed: %v", stoppedAt.Sub(a.began), a.err)
		case a.began.Before(stoppedAt):
			failedInWindow++
		default:
			failedAfter++
		}
	}
	t.Logf("%d requests succeeded; failed: %d before the servers stopped, %d in the last %v before (never reached orders), %d after (refused, as expected)",
		ok, failedBefore, failedInWindow, raceWindow, failedAfter)
	if ok < clients {
		t.Errorf("only %d requests succeeded", ok)
	}

	// Every answered order's server span was flushed at shutdown.
	var served int
	for _, sp := range receiver.Spans() {
		if sp.Service == "orders" && sp.Kind == "server" && sp.Name == "POST /orders" {
			served++
		}
	}
	if served < ok+slow {
		t.Errorf("%d orders server spans reached the collector, want at least %d (every answered request)", served, ok+slow)
	}
}

// blackHole is a collector that hangs: it accepts every connection and
// never answers. It returns its URL.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) }) // read, never answer
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// TestShutdownWithDeadCollector: orders exports its spans to a collector
// that accepts the connection and never answers. On SIGTERM it exits 0
// within the drain delay + 5s: the trace flush gives up at its own 2s cap
// with a warning, and the hooks after it, the Postgres pool and the log
// sync, run and say so.
func TestShutdownWithDeadCollector(t *testing.T) {
	const drain = time.Second
	s := e2e.StartStack(t, bin, e2e.StackOptions{DrainDelay: drain, OrdersEnv: []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + blackHole(t),
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		// Nothing exported before the shutdown: the final flush has the
		// spans of every request to send.
		"OTEL_BSP_SCHEDULE_DELAY=600000",
	}})
	for range 10 {
		if r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p1","quantity":1}`); r.Status != http.StatusCreated {
			t.Fatalf("POST /orders: %d %s", r.Status, r.Body)
		}
	}

	start := time.Now()
	s.Orders.Signal(syscall.SIGTERM)
	code := s.Orders.Exit(drain + 10*time.Second)
	took := time.Since(start)
	t.Logf("orders exited %d %v after SIGTERM (drain delay %v)", code, took.Round(10*time.Millisecond), drain)
	if code != 0 {
		t.Errorf("orders exited %d, want 0: a lost trace flush is a warning", code)
	}
	if took > drain+5*time.Second {
		t.Errorf("orders took %v to exit, want at most the drain delay + 5s (%v)", took, drain+5*time.Second)
	}
	logs := s.Orders.Logs()
	find := func(match func(map[string]any) bool) map[string]any {
		for _, l := range logs {
			if match(l) {
				return l
			}
		}
		return nil
	}
	if l := find(func(l map[string]any) bool { return l["msg"] == "traces not flushed" }); l == nil || l["level"] != "warn" {
		t.Errorf("no warning \"traces not flushed\": %v", l)
	}
	for _, hook := range []string{"traces", "postgres", "logger"} {
		if find(func(l map[string]any) bool { return l["msg"] == "hook done" && l["hook"] == hook }) == nil {
			t.Errorf("no \"hook done\" line for the %s hook", hook)
		}
	}
}

// TestSIGHUP: the terminal or session that started catalog goes away. It
// shuts down as on SIGTERM, drain delay included, and exits 0.
func TestSIGHUP(t *testing.T) {
	const drain = time.Second
	addr, admin := e2e.FreeAddr(t), e2e.FreeAddr(t)
	p := e2e.Start(t, "catalog", bin.Catalog, []string{"HTTP_ADDR=" + addr, "ADMIN_ADDR=" + admin, "GRPC_ADDR=127.0.0.1:0", "SHUTDOWN_DRAIN_DELAY=" + drain.String()})
	c := e2e.NewClient(t, 5*time.Second)
	e2e.WaitStatus(t, c, "http://"+admin+"/readyz", http.StatusOK, e2e.ReadyWithin)

	start := time.Now()
	p.Signal(syscall.SIGHUP)
	e2e.WaitStatus(t, c, "http://"+admin+"/readyz", http.StatusServiceUnavailable, drain) // draining, still serving
	if code, _, err := e2e.Get(c, "http://"+addr+"/products/p1", nil); err != nil || code != http.StatusOK {
		t.Errorf("GET /products/p1 during the drain: %d %v", code, err)
	}
	if code := p.Exit(drain + 5*time.Second); code != 0 {
		t.Errorf("catalog exited %d after SIGHUP, want 0", code)
	}
	if took := time.Since(start); took < drain {
		t.Errorf("catalog exited %v after SIGHUP, before its drain delay %v", took, drain)
	}
	began, err := p.WaitLog(context.Background(), func(l map[string]any) bool { return l["msg"] == "shutdown began" })
	if err != nil || !strings.Contains(fmt.Sprint(began["cause"]), "hangup") {
		t.Errorf("\"shutdown began\" line %v (%v), want one naming the hangup", began, err)
	}
}

// TestClosedStdout: the reader of catalog's stdout (a log shipper that
// restarted, `| head`) goes away. Log writes fail (the logger says so on
// stderr), catalog serves on, and exits 0 on SIGTERM; without the
// shutdown package's SIGPIPE handling the first write would kill it (exit
// 141).
func TestClosedStdout(t *testing.T) {
	addr, admin := e2e.FreeAddr(t), e2e.FreeAddr(t)
	// #nosec G204 -- the binary TestMain built.
	cmd := exec.Command(bin.Catalog)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HTTP_ADDR=" + addr, "ADMIN_ADDR=" + admin, "GRPC_ADDR=127.0.0.1:0", "SHUTDOWN_DRAIN_DELAY=0s"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// The first line says catalog is up; then the reader goes.
	first, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(first, `"starting"`) {
		t.Fatalf("first line %q: %v", first, err)
	}
	if err := stdout.Close(); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- cmd.Wait() }()

	c := e2e.NewClient(t, 5*time.Second)
	e2e.WaitStatus(t, c, "http://"+admin+"/readyz", http.StatusOK, e2e.ReadyWithin)
	for i := range 20 { // each one logs an access line into the broken pipe
		if code, _, err := e2e.Get(c, "http://"+addr+"/products/p1", nil); err != nil || code != http.StatusOK {
			t.Fatalf("request %d with stdout closed: %d %v", i, code, err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Errorf("catalog with stdout closed: %v after SIGTERM, want exit 0; stderr:\n%.2000s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("catalog did not exit within 10s of SIGTERM")
	}
	if !strings.Contains(stderr.String(), "broken pipe") {
		t.Errorf("stderr does not report the failed log writes:\n%.2000s", stderr.String())
	}
}
