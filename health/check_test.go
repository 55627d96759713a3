package health

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

// A check that honours its context fails at its deadline with ErrTimeout,
// and the context it saw says DeadlineExceeded.
func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ctxErr error
		var events []Event
		c := New(quiet(), ShowReasons(true), OnEvent(func(ev Event) { events = append(events, ev) }))
		c.AddReadiness("slow", func(ctx context.Context) error {
			<-ctx.Done()
			ctxErr = ctx.Err()
			return ctx.Err()
		}, Timeout(300*time.Millisecond))

		start := time.Now()
		code, b := probe(t, mounted(c), "/readyz")
		if took := time.Since(start); took != 300*time.Millisecond {
			t.Errorf("probe took %v, want exactly the 300ms timeout", took)
		}
		synctest.Wait() // the check's goroutine returns after its context is cancelled
		if code != 503 || b.Checks["slow"][0].Output != "health: check timed out after 300ms" {
			t.Errorf("got %d %+v", code, b)
		}
		if b.Checks["slow"][0].Duration != "300ms" {
			t.Errorf("duration = %q, want 300ms", b.Checks["slow"][0].Duration)
		}
		if !errors.Is(ctxErr, context.DeadlineExceeded) {
			t.Errorf("check saw ctx.Err() = %v, want DeadlineExceeded", ctxErr)
		}
		if len(events) != 1 || !errors.Is(events[0].Err, ErrTimeout) || events[0].Status != Fail {
			t.Errorf("events = %+v, want one Fail with ErrTimeout", events)
		}
	})
}

// 50 probes against a check that never returns all answer at its timeout;
// the check runs once, and afterwards exactly one goroutine (the hung run)
// is left, however many more probes come.
func TestHungCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var calls atomic.Int32
		c := New(quiet())
		c.AddReadiness("hung", func(context.Context) error {
			calls.Add(1)
			<-release // ignores its context, as a broken driver would
			return nil
		}, Timeout(time.Second))
		h := mounted(c)
		base := bubbleGoroutines()

		var wg sync.WaitGroup
		start := time.Now()
		for range 50 {
			wg.Go(func() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
				if rec.Code != 503 {
					t.Errorf("code = %d, want 503", rec.Code)
				}
				if took := time.Since(start); took > time.Second {
					t.Errorf("probe answered after %v, want <= 1s", took)
				}
			})
		}
		wg.Wait()
		synctest.Wait()
		if n := bubbleGoroutines() - base; n != 1 {
			t.Errorf("%d goroutines left after 50 probes, want 1 (the hung run)", n)
		}
		// Later probes answer at once from the timed-out run and start nothing.
		for range 50 {
			before := time.Now()
			if code, _ := probe(t, h, "/readyz"); code != 503 {
				t.Errorf("code = %d, want 503", code)
			}
			if time.Since(before) != 0 {
				t.Error("a probe waited on a check already past its deadline")
			}
		}
		synctest.Wait()
		if n := bubbleGoroutines() - base; n != 1 {
			t.Errorf("%d goroutines left after 100 probes, want 1", n)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("check ran %d times, want 1", n)
		}
		// Once it returns, the next probe runs it again.
		close(release)
		synctest.Wait()
		if code, _ := probe(t, h, "/readyz"); code != 200 || calls.Load() != 2 {
			t.Errorf("after release: code %d, %d calls; want 200, 2", code, calls.Load())
		}
	})
}

// Checks of one probe run in parallel: three 200ms checks take 200ms.
func TestParallel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(quiet())
		for _, n := range []string{"a", "b", "c"} {
			c.AddReadiness(n, func(ctx context.Context) error {
				time.Sleep(200 * time.Millisecond)
				return nil
			})
		}
		start := time.Now()
		if code, _ := probe(t, mounted(c), "/readyz"); code != 200 {
			t.Errorf("code = %d", code)
		}
		if took := time.Since(start); took != 200*time.Millisecond {
			t.Errorf("probe took %v, want 200ms", took)
		}
	})
}

// Interval checks run at Start and then every interval; probes read the
// result and never call the check; cancelling Start's context stops them.
func TestInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		healthy := atomic.Bool{}
		c := New(quiet())
		c.AddReadiness("db", func(ctx context.Context) error {
			calls.Add(1)
			time.Sleep(10 * time.Millisecond)
			if !healthy.Load() {
				return errors.New("down")
			}
			return nil
		}, Interval(time.Second))
		h := mounted(c)

		if code, _ := probe(t, h, "/readyz"); code != 503 {
			t.Errorf("before Start: code %d, want 503", code)
		}
		ctx, cancel := context.WithCancel(t.Context())
		c.Start(ctx)
		c.Start(ctx) // a second Start does nothing
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		if calls.Load() != 1 {
			t.Fatalf("%d calls right after Start, want 1", calls.Load())
		}
		start := time.Now()
		for range 10 {
			if code, _ := probe(t, h, "/readyz"); code != 503 {
				t.Errorf("failing: code %d, want 503", code)
			}
		}
		if time.Since(start) != 0 || calls.Load() != 1 {
			t.Errorf("probes waited %v or ran the check (%d calls)", time.Since(start), calls.Load())
		}
		healthy.Store(true)
		time.Sleep(time.Second)
		synctest.Wait()
		if code, b := probe(t, h, "/readyz"); code != 200 || calls.Load() != 2 || b.Checks["db"][0].Time != "2000-01-01T00:00:01.01Z" {
			t.Errorf("after one interval: code %d, %d calls, %+v", code, calls.Load(), b)
		}
		// Registered after Start, an Interval check starts at once.
		c.AddReadiness("late", passing, Interval(time.Minute))
		synctest.Wait()
		if code, _ := probe(t, h, "/readyz"); code != 200 {
			t.Errorf("late check: code %d, want 200", code)
		}
		cancel()
		synctest.Wait()
		time.Sleep(10 * time.Second)
		if calls.Load() != 2 {
			t.Errorf("%d calls after cancel, want 2", calls.Load())
		}
		if code, _ := probe(t, h, "/readyz"); code != 200 {
			t.Errorf("after cancel the last results stay: code %d", code)
		}
	})
}

// Cancelling Start while a check runs is shutdown, not a failure: the run
// is discarded, not reported.
func TestIntervalCancelDuringRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var events atomic.Int32
		c := New(quiet(), OnEvent(func(Event) { events.Add(1) }))
		c.AddLiveness("slow", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}, Interval(time.Second), Timeout(time.Hour))
		ctx, cancel := context.WithCancel(t.Context())
		c.Start(ctx)
		time.Sleep(time.Minute)
		cancel()
		synctest.Wait()
		if events.Load() != 0 {
			t.Errorf("%d events, want none", events.Load())
		}
	})
}

// Replacing an Interval check stops the old one's loop.
func TestReplaceInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var old, cur atomic.Int32
		c := New(quiet())
		c.Start(t.Context())
		c.AddReadiness("db", func(context.Context) error { old.Add(1); return nil }, Interval(time.Second))
		synctest.Wait()
		c.AddReadiness("db", func(context.Context) error { cur.Add(1); return nil }, Interval(time.Second))
		time.Sleep(5*time.Second + time.Millisecond)
		if old.Load() != 1 || cur.Load() != 6 {
			t.Errorf("old ran %d times (want 1), new %d (want 6)", old.Load(), cur.Load())
		}
		if len(c.list(Readiness)) != 1 {
			t.Errorf("%d readiness checks, want 1", len(c.list(Readiness)))
		}
	})
}

// FailureThreshold: a check that has passed counts as failing only after
// n failures in a row; a readiness check that never passed fails anyway,
// a liveness one passes until it reaches the threshold.
func TestFailureThreshold(t *testing.T) {
	tests := []struct {
		name      string
		kind      Kind
		threshold int
		results   string // p: pass, f: fail, one run each
		want      string // the status after each run: p, w, f
		critical  bool
	}{
		{"default threshold", Readiness, 1, "pffp", "pffp", true},
		{"blips tolerated", Readiness, 3, "pffpfff", "ppppppf", true},
		{"never passed", Readiness, 3, "ffp", "ffp", true},
		{"liveness tolerates first failures", Liveness, 3, "fffp", "ppfp", true},
		{"startup never passed", Startup, 2, "fp", "fp", true},
		{"non-critical warns", Readiness, 2, "pfff", "ppww", false},
		{"threshold below one means one", Readiness, 0, "pf", "pf", true},
	}
	letter := map[Status]byte{Pass: 'p', Warn: 'w', Fail: 'f'}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var i int
				c := New(quiet())
				fn := func(context.Context) error {
					r := tt.results[i]
					i++
					if r == 'f' {
						return errors.New("blip")
					}
					return nil
				}
				register(c, []reg{{tt.kind, "x", fn, []CheckOption{FailureThreshold(tt.threshold), Critical(tt.critical)}}})
				var got []byte
				for range tt.results {
					c.list(tt.kind)[0].join()
					synctest.Wait()
					got = append(got, letter[c.list(tt.kind)[0].read().status])
				}
				if string(got) != tt.want {
					t.Errorf("statuses %s, want %s", got, tt.want)
				}
			})
		})
	}
}

// A client that goes away stops the probe from waiting; the run goes on
// and is there for the next probe.
func TestProbeClientGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(quiet())
		c.AddReadiness("slow", func(context.Context) error { time.Sleep(500 * time.Millisecond); return nil })
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		start := time.Now()
		mounted(c).ServeHTTP(rec, httptest.NewRequestWithContext(ctx, "GET", "/readyz", nil))
		if took := time.Since(start); took != 100*time.Millisecond || rec.Code != 503 {
			t.Errorf("took %v, code %d; want 100ms, 503", took, rec.Code)
		}
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		if code, _ := probe(t, mounted(c), "/readyz"); code != 200 {
			t.Errorf("next probe: %d", code)
		}
	})
}

// The run's context: its deadline, no values from nowhere, and a child
// context ends at that deadline.
func TestRunContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type key struct{}
		var sawDeadline time.Time
		var sawValue any
		var errAfter error
		c := New(quiet())
		c.AddLiveness("ctx", func(ctx context.Context) error {
			sawDeadline, _ = ctx.Deadline()
			sawValue = ctx.Value(key{})
			if ctx.Err() != nil {
				return errors.New("cancelled too early")
			}
			child, cancel := context.WithTimeout(ctx, time.Hour)
			defer cancel()
			<-child.Done()
			errAfter = child.Err()
			return nil
		}, Timeout(2*time.Second))
		start := time.Now()
		probe(t, mounted(c), "/livez")
		synctest.Wait()
		if !sawDeadline.Equal(start.Add(2 * time.Second)) {
			t.Errorf("deadline %v, want start+2s", sawDeadline)
		}
		if sawValue != nil {
			t.Errorf("value %v from nowhere", sawValue)
		}
		if !errors.Is(errAfter, context.DeadlineExceeded) {
			t.Errorf("child context: %v, want DeadlineExceeded", errAfter)
		}
	})
}

// raceSlack scales the wall-clock bounds of the real-network tests: the
// race detector makes every goroutine switch several times slower.
var raceSlack = map[bool]time.Duration{false: 1, true: 2}[testenv.Race]

// stormSlack is what the real-network storm tests allow the scheduler on
// top of the bound the Checker is responsible for.
var stormSlack = raceSlack * 200 * time.Millisecond

// The probe storm over the network: 100 concurrent probes against a 50ms
// check. Never are two runs of the check in flight at once, and no probe
// waits for more than the run it joined plus the one after it. The exact
// bound (every probe answered after 50ms by one run) is pinned down on a
// fake clock by TestProbeStormExact; here, on a shared machine with the
// other packages' tests running, the wall-clock bound allows for the
// scheduler (stormSlack) rather than fail on a descheduled goroutine.
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

// bubbleGoroutines counts the goroutines of the calling synctest bubble:
// runtime.NumGoroutine would also count those other tests left winding
// down.
func bubbleGoroutines() int {
	b := make([]byte, 1<<20)
	for {
		n := runtime.Stack(b, true)
		if n < len(b) {
			return strings.Count(string(b[:n]), ", synctest bubble ")
		}
		b = make([]byte, 2*len(b))
	}
}
