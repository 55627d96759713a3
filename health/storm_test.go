package health

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// warmClient returns a client holding n open connections to srv, so that
// a test's probes measure the handler, not TCP handshakes.
func warmClient(t *testing.T, srv *httptest.Server, n int) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxIdleConns: n}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := client.Get(srv.URL + "/livez")
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		})
	}
	wg.Wait()
	return client
}

// storm sends n probes at once and returns each one's latency.
func storm(t *testing.T, client *http.Client, url string, n, wantCode int) []time.Duration {
	t.Helper()
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			start := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			lat[i] = time.Since(start)
			if resp.StatusCode != wantCode {
				t.Errorf("code %d, want %d", resp.StatusCode, wantCode)
			}
		})
	}
	close(gate)
	wg.Wait()
	return lat
}

// serverTimes wraps h and records how long each request spent in it:
// the latency the Checker is responsible for, whatever the load on the
// machine does to the clients.
type serverTimes struct {
	h   http.Handler
	mu  sync.Mutex
	lat []time.Duration
}

func (s *serverTimes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.h.ServeHTTP(w, r)
	s.mu.Lock()
	s.lat = append(s.lat, time.Since(start))
	s.mu.Unlock()
}

func (s *serverTimes) slowest() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maxOf(s.lat)
}

// The probe storm over the network: 100 concurrent probes against a 50ms
// check. Never are two runs of the check in flight at once, and no probe
// waits for more than the run it joined plus the one after it. The exact
// bound (every probe answered after 50ms by one run) is pinned down on a
// fake clock by TestProbeStormExact; here, on a shared machine with the
// other packages' tests running, the wall-clock bound allows for the
// scheduler (stormSlack) rather than fail on a descheduled goroutine.
// stormSlack is what the real-network storm tests allow the scheduler on
// top of the bound the Checker is responsible for.
const stormSlack = raceSlack * 200 * time.Millisecond

func TestProbeStorm(t *testing.T) {
	var calls, inFlight, maxInFlight atomic.Int32
	c := New(quiet())
	c.AddReadiness("db", func(ctx context.Context) error {
		calls.Add(1)
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		if n > maxInFlight.Load() {
			maxInFlight.Store(n)
		}
		time.Sleep(50 * time.Millisecond) // real time: this test is about real HTTP
		return nil
	})
	mux := http.NewServeMux()
	c.Mount(mux)
	st := &serverTimes{h: mux}
	srv := httptest.NewServer(st)
	defer srv.Close()
	client := warmClient(t, srv, 100)
	st.lat = nil

	storm(t, client, srv.URL+"/readyz", 100, 200)
	if slowest, limit := st.slowest(), 100*time.Millisecond+stormSlack; slowest > limit {
		t.Errorf("slowest probe took %v in the server, want <= %v", slowest, limit)
	}
	if maxInFlight.Load() != 1 {
		t.Errorf("%d runs of the check in flight at once, want 1", maxInFlight.Load())
	}
	if n := calls.Load(); n > 10 {
		t.Errorf("check ran %d times for 100 concurrent probes", n)
	}
	t.Logf("100 probes, %d runs of the check, slowest %v in the server", calls.Load(), st.slowest())
}

// The same storm through the real net/http client and server, connected
// by in-memory pipes inside a synctest bubble: every probe arrives at the
// same instant of the fake clock, so the numbers are exact. One run of the
// 50ms check answers all 100 probes, each after exactly 50ms.
func TestProbeStormExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		c := New(quiet())
		c.AddReadiness("db", func(ctx context.Context) error {
			calls.Add(1)
			time.Sleep(50 * time.Millisecond)
			return nil
		})
		mux := http.NewServeMux()
		c.Mount(mux)
		client := pipeServer(t, mux)

		lat := storm(t, client, "http://health.test/readyz", 100, 200)
		if n := calls.Load(); n != 1 {
			t.Errorf("check ran %d times for 100 concurrent probes, want 1", n)
		}
		for i, d := range lat {
			if d != 50*time.Millisecond {
				t.Errorf("probe %d took %v, want 50ms", i, d)
			}
		}
	})
}

// 50 probes over the network against a check that never returns: each is
// answered within its 100ms timeout plus slack, twice over, and the check
// ran once. TestHungCheck counts the goroutines on a fake clock.
func TestHungCheckHTTP(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	c := New(quiet())
	c.AddReadiness("hung", func(context.Context) error {
		calls.Add(1)
		<-release
		return nil
	}, Timeout(100*time.Millisecond))
	mux := http.NewServeMux()
	c.Mount(mux)
	st := &serverTimes{h: mux}
	srv := httptest.NewServer(st)
	defer srv.Close()
	defer close(release)
	client := warmClient(t, srv, 50)

	for round := range 2 {
		st.lat = nil
		storm(t, client, srv.URL+"/readyz", 50, 503)
		if slowest, limit := st.slowest(), 100*time.Millisecond+stormSlack; slowest > limit {
			t.Errorf("round %d: slowest probe took %v in the server, want <= %v (100ms timeout + scheduler slack)", round, slowest, limit)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("hung check ran %d times, want 1", n)
	}
}

// pipeServer serves h with a real http.Server on an in-memory listener and
// returns a real http.Client connected to it: HTTP that synctest can see
// block, so that fake time applies.
func pipeServer(t *testing.T, h http.Handler) *http.Client {
	l := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(l) }()
	tr := &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return l.dial(ctx) },
		MaxIdleConnsPerHost: 100,
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = srv.Close()
	})
	return &http.Client{Transport: tr}
}

type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *pipeListener) dial(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "health.test:80" }

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// Registering, replacing and probing at once: the race detector decides.
func TestRegisterWhileProbing(t *testing.T) {
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(t.Context())
	c := New(quiet())
	c.Start(ctx)
	h := mounted(c)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				name := fmt.Sprintf("c%d", i%10)
				switch w {
				case 0:
					c.AddReadiness(name, passing)
				case 1:
					c.AddReadiness(name, passing, Interval(time.Millisecond))
				case 2:
					c.AddLiveness(name, failing, Critical(false))
				default:
					c.Drain()
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 50 {
				for _, target := range []string{"/readyz", "/livez", "/readyz/c1", "/livez?exclude=c2"} {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
					if rec.Code != 200 && rec.Code != 503 && rec.Code != 404 {
						t.Errorf("%s: code %d", target, rec.Code)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := len(c.list(Readiness)); n != 10 {
		t.Errorf("%d readiness checks, want 10 (replaced, not added)", n)
	}
	cancel()
	goleak.VerifyNone(t, before)
}

// After Start's context ends no goroutine of the Checker is left.
func TestStartStops(t *testing.T) {
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(t.Context())
	c := New(quiet())
	for i := range 5 {
		c.AddReadiness(fmt.Sprint(i), func(ctx context.Context) error {
			select {
			case <-ctx.Done():
			case <-time.After(time.Millisecond):
			}
			return nil
		}, Interval(time.Millisecond))
	}
	c.Start(ctx)
	time.Sleep(20 * time.Millisecond)
	cancel()
	goleak.VerifyNone(t, before)
}
