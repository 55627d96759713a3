//go:build linux

package hardening_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// catalog is catalog running alone.
type catalog struct {
	proc       *e2e.Proc
	url, admin string
	client     *http.Client
}

// startCatalog runs binary (a catalog) with env added to its addresses
// and waits until it is ready.
func startCatalog(t *testing.T, binary string, env ...string) *catalog {
	t.Helper()
	addr, admin := e2e.FreeAddr(t), e2e.FreeAddr(t)
	c := &catalog{url: "http://" + addr, admin: "http://" + admin, client: e2e.NewClient(t, 10*time.Second)}
	c.proc = e2e.Start(t, "catalog", binary, append([]string{
		"HTTP_ADDR=" + addr, "ADMIN_ADDR=" + admin, "GRPC_ADDR=127.0.0.1:0", "SHUTDOWN_DRAIN_DELAY=0s",
	}, env...))
	e2e.WaitStatus(t, c.client, c.admin+"/readyz", http.StatusOK, e2e.ReadyWithin)
	return c
}

// TestSlowloris: 200 connections send their request headers one byte a
// second. A normal client is served all along, well before the header
// timeout would free anything, and the server closes each slow connection
// at its header timeout.
func TestSlowloris(t *testing.T) {
	const (
		conns         = 200
		headerTimeout = 2 * time.Second
		// A normal request must not wait for the slow connections to be
		// closed (headerTimeout). A quarter of it tells the two apart with
		// room for a loaded 2-core machine under the race detector (a
		// 117 ms worst case was seen there, against a median of 1.4 ms).
		served = headerTimeout / 4
		// A connection must be closed by the timeout plus this: the
		// server's deadline fires on a busy machine's scheduler.
		slack = 2 * time.Second
	)
	c := startCatalog(t, bin.checked.Catalog, "HTTP_READ_HEADER_TIMEOUT="+headerTimeout.String())
	host := c.url[len("http://"):]

	type result struct {
		open  time.Duration // how long the server kept it
		reply []byte        // what the server sent, if anything
		err   error         // how the connection ended, when not by the server's close
	}
	results := make(chan result, conns)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	began := time.Now()
	for range conns {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatalf("dial %d connections: %v", conns, err)
		}
		wg.Go(func() {
			defer conn.Close()
			start := time.Now()
			closed := make(chan result, 1)
			go func() {
				_ = conn.SetReadDeadline(start.Add(headerTimeout + slack + 5*time.Second))
				reply, err := io.ReadAll(conn)
				if errors.Is(err, syscall.ECONNRESET) {
					// The server closed with our last byte unread: a reset
					// is its way of closing then.
					err = nil
				}
				closed <- result{open: time.Since(start), reply: reply, err: err}
			}()
			head := []byte("GET /products HTTP/1.1\r\nHost: catalog\r\nX-Slow: ")
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for i := 0; ; i++ {
				b := head[i%len(head) : i%len(head)+1]
				if i >= len(head) {
					b = []byte("a")
				}
				if _, err := conn.Write(b); err != nil {
					break // the server closed it
				}
				select {
				case r := <-closed:
					results <- r
					return
				case <-stop:
					results <- result{open: time.Since(start), err: errors.New("still open when the test gave up")}
					return
				case <-tick.C:
				}
			}
			results <- <-closed
		})
	}
	t.Logf("%d slow connections open after %v", conns, time.Since(began))

	// The normal client, all the while the slow ones hold their connections.
	var latencies []time.Duration
	for time.Since(began) < headerTimeout+slack/2 {
		start := time.Now()
		code, body, err := e2e.Get(c.client, c.url+"/products/p1", nil)
		took := time.Since(start)
		if err != nil || code != http.StatusOK {
			t.Fatalf("normal request during the slowloris: %d %s %v", code, body, err)
		}
		latencies = append(latencies, took)
		time.Sleep(20 * time.Millisecond)
	}
	time.AfterFunc(headerTimeout+slack, func() { close(stop) })
	wg.Wait()
	close(results)

	slices.Sort(latencies)
	worst := latencies[len(latencies)-1]
	t.Logf("normal client: %d requests, median %v, worst %v", len(latencies), latencies[len(latencies)/2], worst)
	if worst > served {
		t.Errorf("a normal request took %v with %d slow connections open, want at most %v", worst, conns, served)
	}

	var open []time.Duration
	for r := range results {
		switch {
		case r.err != nil:
			t.Errorf("slow connection: %v after %v", r.err, r.open)
		case len(r.reply) > 0 && !timeoutReply.Match(r.reply):
			t.Errorf("slow connection got %q, want nothing, or a 400 or 408 and a close", r.reply)
		}
		open = append(open, r.open)
	}
	slices.Sort(open)
	t.Logf("slow connections closed after %v (first) to %v (last); header timeout %v", open[0], open[len(open)-1], headerTimeout)
	if open[0] < headerTimeout-100*time.Millisecond {
		t.Errorf("a slow connection was closed after %v, before the header timeout %v", open[0], headerTimeout)
	}
	if !c.proc.Running() {
		t.Fatal("catalog exited")
	}
	if lines := errorLines(c.proc); len(lines) > 0 {
		t.Errorf("error lines in catalog's log: %v", lines)
	}
}

// timeoutReply: net/http answers a request whose headers it gave up
// reading with 400 (or 408) and "Connection: close" before it closes.
var timeoutReply = regexp.MustCompile(`^HTTP/1\.1 40[08] [^\r]*\r\n(?s:.*)Connection: close\r\n`)
