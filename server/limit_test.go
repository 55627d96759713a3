package server

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

func TestMaxConnsFor(t *testing.T) {
	tests := []struct {
		name   string
		nofile uint64
		want   int
	}{
		{"none", 0, 0},
		{"tiny: half stays free", 10, 5},
		{"under 256: half stays free", 200, 100},
		{"256: 128 stay free", 256, 128},
		{"1024: 128 stay free", 1024, 896},
		{"65536: a tenth stays free", 65536, 58983},
		{"Docker's 1048576", 1 << 20, 943719},
		{"infinity", math.MaxUint64, math.MaxInt32 - math.MaxInt32/10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := maxConnsFor(tt.nofile); got != tt.want {
				t.Errorf("maxConnsFor(%d) = %d, want %d", tt.nofile, got, tt.want)
			}
		})
	}
}

func TestDefaultMaxConns(t *testing.T) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if got, want := DefaultMaxConns(), maxConnsFor(r.Cur); got != want || got <= 0 {
		t.Errorf("DefaultMaxConns() = %d, want %d of RLIMIT_NOFILE %d", got, want, r.Cur)
	}
}

// capped is a server on loopback whose port Limit caps. GET / answers at
// once; GET /block holds its request until the client goes or the test
// ends; GET /hijack takes the connection and holds it until release.
type capped struct {
	t       *testing.T
	l       *Listener
	srv     *http.Server
	url     string
	client  *http.Client
	states  chan http.ConnState // every ConnState the server reports after Limit's own hook
	release chan struct{}
}

func serveCapped(t *testing.T, max int, withTLS bool) *capped {
	t.Helper()
	c := &capped{t: t, states: make(chan http.ConnState, 64), release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /block", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-c.release:
		}
	})
	mux.HandleFunc("GET /hijack", func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		_ = buf.Flush()
		<-c.release
		_ = conn.Close()
	})
	ts := httptest.NewUnstartedServer(mux)
	c.srv = ts.Config
	c.srv.ConnState = func(_ net.Conn, s http.ConnState) {
		select {
		case c.states <- s:
		default:
		}
	}
	if withTLS {
		c.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	c.l = Limit(c.srv, ts.Listener, max)
	c.l.memoryLimit = func() int64 { return math.MaxInt64 } // the count cap alone, whatever GOMEMLIMIT the tests run with
	ts.Listener = c.l
	if withTLS {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(func() {
		close(c.release)
		ts.Close()
	})
	c.url, c.client = ts.URL, ts.Client()
	return c
}

// waitState waits until the server has reported want for some connection
// (Limit has tracked it by then: its hook runs first).
func (c *capped) waitState(want http.ConnState) {
	c.t.Helper()
	c.waitStates(want)
}

// waitStates waits until a connection has entered each of want, in any
// order: the states of two connections reach the hook from their own
// goroutines, so which comes first is not fixed.
func (c *capped) waitStates(want ...http.ConnState) {
	c.t.Helper()
	pending := map[http.ConnState]int{}
	for _, w := range want {
		pending[w]++
	}
	timeout := time.After(10 * time.Second)
	for len(pending) > 0 {
		select {
		case s := <-c.states:
			if pending[s] > 0 {
				if pending[s]--; pending[s] == 0 {
					delete(pending, s)
				}
			}
		case <-timeout:
			c.t.Fatalf("no connection became %v", pending)
		}
	}
}

// conn dials the server on a connection of its own, which the test holds.
func (c *capped) conn() *http.Client {
	tr := c.client.Transport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = 1
	c.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func (c *capped) get(client *http.Client, path string) (*http.Response, error) {
	resp, err := client.Get(c.url + path)
	if err != nil {
		return nil, err
	}
	if path != "/block" {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	} else {
		c.t.Cleanup(func() { _ = resp.Body.Close() })
	}
	return resp, nil
}

func (c *capped) wantStatus(client *http.Client, path string, want int) *http.Response {
	c.t.Helper()
	resp, err := c.get(client, path)
	if err != nil {
		c.t.Fatalf("GET %s: %v, want %d", path, err, want)
	}
	if resp.StatusCode != want {
		c.t.Fatalf("GET %s: %s, want %d", path, resp.Status, want)
	}
	return resp
}

func (c *capped) wantStats(want Stats) {
	c.t.Helper()
	if got := c.l.Stats(); got != want {
		c.t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

// TestLimitClosesTheLongestIdle: at the cap, a new connection is served
// and the connection idle longest is closed to make room for it; the
// other idle one still serves.
func TestLimitClosesTheLongestIdle(t *testing.T) {
	c := serveCapped(t, 2, false)
	a, b := c.conn(), c.conn()
	c.wantStatus(a, "/", http.StatusOK)
	c.waitState(http.StateIdle)
	c.wantStatus(b, "/", http.StatusOK)
	c.waitState(http.StateIdle)
	c.wantStats(Stats{Max: 2, Open: 2, Idle: 2})

	c.wantStatus(c.conn(), "/", http.StatusOK)     // a third connection
	c.waitStates(http.StateClosed, http.StateIdle) // a's closed to make room; the third idle
	c.wantStats(Stats{Max: 2, Open: 2, Idle: 2, Evicted: 1})

	// b was idle for less time: it was kept, and serves on the same
	// connection; a dials again, which makes room by closing b's.
	c.wantStatus(b, "/", http.StatusOK)
	if st := c.l.Stats(); st.Evicted != 1 {
		t.Errorf("b's request made an eviction: %+v", st)
	}
}

// TestLimitRefusesWhenNoneIdle: with every connection busy, a new one is
// answered 503 with Retry-After, which net/http's client reads as the
// response to its request, and closed.
func TestLimitRefusesWhenNoneIdle(t *testing.T) {
	c := serveCapped(t, 1, false)
	c.wantStatus(c.conn(), "/block", http.StatusOK)
	c.waitState(http.StateActive)

	resp := c.wantStatus(c.conn(), "/", http.StatusServiceUnavailable)
	if resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Errorf("refusal without Retry-After or Connection: close: %v", resp.Header)
	}
	c.wantStats(Stats{Max: 1, Open: 1, Refused: 1})

	// The whole answer on a raw connection, as a client that is not Go's
	// sees it.
	raw, err := net.Dial("tcp", c.l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := io.WriteString(raw, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(raw)
	if err != nil || string(got) != refusal {
		t.Errorf("raw refusal %q, %v; want %q and EOF", got, err, refusal)
	}
	resp, err = http.ReadResponse(bufio.NewReader(strings.NewReader(refusal)), nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("the refusal is not a valid HTTP response: %v", err)
	}
	if body, _ := io.ReadAll(resp.Body); int64(len(body)) != resp.ContentLength {
		t.Errorf("refusal body %d bytes, Content-Length %d", len(body), resp.ContentLength)
	}
}

// TestLimitTLS: under TLS, Limit finds its connection under the
// *tls.Conn the server reports (idle connections are closed to make room
// as without TLS), and refuses by closing: a plain-text 503 means nothing
// to a TLS client.
func TestLimitTLS(t *testing.T) {
	c := serveCapped(t, 1, true)
	a := c.conn()
	c.wantStatus(a, "/", http.StatusOK)
	c.waitState(http.StateIdle)
	c.wantStats(Stats{Max: 1, Open: 1, Idle: 1})

	c.wantStatus(c.conn(), "/block", http.StatusOK)
	c.waitState(http.StateActive)
	c.wantStats(Stats{Max: 1, Open: 1, Evicted: 1})

	if resp, err := c.get(c.conn(), "/"); err == nil {
		t.Fatalf("over the cap under TLS: %s, want the connection closed", resp.Status)
	}
	c.wantStats(Stats{Max: 1, Open: 1, Evicted: 1, Refused: 1})
}

// TestLimitHijacked: a hijacked connection belongs to its handler; it is
// not idle, so it is never closed to make room, and it counts until the
// handler closes it.
func TestLimitHijacked(t *testing.T) {
	c := serveCapped(t, 1, false)
	c.wantStatus(c.conn(), "/hijack", http.StatusOK)
	c.waitState(http.StateHijacked)
	c.wantStatus(c.conn(), "/", http.StatusServiceUnavailable)
	c.wantStats(Stats{Max: 1, Open: 1, Refused: 1})
}

// TestLimitChainsConnState: a ConnState hook set before Limit still sees
// every state (serveCapped's hook is one; the other tests wait on it).
func TestLimitChainsConnState(t *testing.T) {
	c := serveCapped(t, 1, false)
	c.wantStatus(c.conn(), "/", http.StatusOK)
	for _, want := range []http.ConnState{http.StateNew, http.StateActive, http.StateIdle} {
		if got := <-c.states; got != want {
			t.Fatalf("hook saw %v, want %v", got, want)
		}
	}
}

// TestLimitRefusalIsBounded: a refused client that sends nothing is
// closed after lingerTime; at most maxLingering refusals wait at once,
// the others are closed at once; Close ends those waiting.
func TestLimitRefusalIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pipes := testenv.NewPipeNet()
		srv := New("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			_ = http.NewResponseController(w).Flush()
			<-r.Context().Done()
		}))
		l := Limit(srv, pipes, 1)
		go func() { _ = srv.Serve(l) }()

		busy, err := pipes.Dial(t.Context(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(busy, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(busy)
		if _, err := http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		}

		// A refused client that says nothing: closed at lingerTime.
		silent, err := pipes.Dial(t.Context(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if n, err := io.Copy(io.Discard, silent); n != 0 || err != nil {
			t.Errorf("silent client read %d bytes, %v; want a close and nothing", n, err)
		}
		if took := time.Since(start); took != lingerTime {
			t.Errorf("silent client closed after %v, want %v", took, lingerTime)
		}

		// maxLingering silent clients wait; the next is closed at once.
		waiting := make([]net.Conn, maxLingering)
		for i := range waiting {
			if waiting[i], err = pipes.Dial(t.Context(), "", ""); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		extra, err := pipes.Dial(t.Context(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		if _, err := extra.Read(make([]byte, 1)); !errors.Is(err, io.EOF) || time.Since(start) != 0 {
			t.Errorf("refusal past maxLingering: %v after %v, want EOF at once", err, time.Since(start))
		}
		if st := l.Stats(); st.Refused != maxLingering+2 {
			t.Errorf("Refused %d, want %d", st.Refused, maxLingering+2)
		}

		// Closing the server (and so the listener) ends the waiting ones
		// at once.
		start = time.Now()
		_ = srv.Close()
		for _, c := range waiting {
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("waiting refusal after Close: %v, want EOF", err)
			}
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("Close took %v to end the refusals", took)
		}
		_ = busy.Close()
		_ = pipes.Close()
	})
}

// TestMemoryBudget: the cap is the smaller of the count and what a
// quarter of the runtime's memory limit holds at connCost each, and it
// follows a changed limit within memoryRefresh.
func TestMemoryBudget(t *testing.T) {
	const mib = 1 << 20
	limit := int64(128 * mib / 10 * 9) // memlimit's share of a 128 MiB container
	l := &Listener{max: 100000, cost: connCost(16 << 10), memoryLimit: func() int64 { return limit }}
	t0 := time.Now()
	if got := l.capNow(t0); got != 921 {
		t.Errorf("cap with a 115 MiB limit and 16 KiB headers = %d, want 921", got)
	}
	limit = 256 * mib / 10 * 9 // docker update --memory 256m, followed by memlimit
	if got := l.capNow(t0.Add(memoryRefresh / 2)); got != 921 {
		t.Errorf("cap before the refresh = %d, want the old 921", got)
	}
	if got := l.capNow(t0.Add(memoryRefresh)); got != 1843 {
		t.Errorf("cap after the refresh = %d, want 1843", got)
	}
	limit = math.MaxInt64 // no limit: the count alone
	if got := l.capNow(t0.Add(2 * memoryRefresh)); got != 100000 {
		t.Errorf("cap without a memory limit = %d, want the count cap", got)
	}
	limit = 1 // absurd, but never a cap of 0: one connection still serves
	if got := l.capNow(t0.Add(3 * memoryRefresh)); got != 1 {
		t.Errorf("cap with a 1-byte limit = %d, want 1", got)
	}
	for _, maxHeader := range []int{64 << 10, 8 << 10, 0} {
		l := &Listener{max: 100000, cost: connCost(maxHeader), memoryLimit: func() int64 { return 128 * mib / 10 * 9 }}
		t.Logf("115 MiB limit, MaxHeaderBytes %d: cap %d", maxHeader, l.capNow(t0))
	}
}

// TestLimitByMemory: at the memory budget's cap a connection with
// unfinished headers is the first closed to make room, as an idle one is.
func TestLimitByMemory(t *testing.T) {
	c := serveCapped(t, 1000, false)
	c.l.mu.Lock()                                                        // the server is serving: capNow reads these under l.mu
	c.l.memoryLimit = func() int64 { return 2 * memoryShare * c.l.cost } // room for two
	c.l.memAt = time.Time{}
	c.l.mu.Unlock()
	slow, err := net.Dial("tcp", strings.TrimPrefix(c.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "GET / HTTP/1.1\r\nHost: t\r\nX-Fill: "+strings.Repeat("a", 8<<10)); err != nil { // never ended
		t.Fatal(err)
	}
	c.waitState(http.StateNew)
	b := c.conn()
	c.wantStatus(b, "/", http.StatusOK)
	c.waitState(http.StateIdle)
	if st := c.l.Stats(); st.Max != 2 || st.Memory != 2 || st.Open != 2 {
		t.Fatalf("Stats() = %+v, want a cap of 2 from the memory budget, 2 open", st)
	}
	c.wantStatus(c.conn(), "/", http.StatusOK) // a third: the unfinished headers make room
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := slow.Read(make([]byte, 1)); err == nil {
		t.Errorf("the connection with unfinished headers read %d bytes, want it closed", n)
	}
	if st := c.l.Stats(); st.Evicted != 1 {
		t.Errorf("Stats() = %+v, want 1 evicted", st)
	}
}
