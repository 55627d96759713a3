package health

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// probe serves one request to h and returns the code and the decoded body.
func probe(t *testing.T, h http.Handler, target string) (int, body) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	var b body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, b
}

type body struct {
	Status string `json:"status"`
	Output string `json:"output"`
	Checks map[string][]struct {
		Status   string `json:"status"`
		Time     string `json:"time"`
		Duration string `json:"duration"`
		Output   string `json:"output"`
	} `json:"checks"`
}

func mounted(c *Checker) http.Handler {
	mux := http.NewServeMux()
	c.Mount(mux)
	return mux
}

// A check that honours its context fails at its deadline with ErrTimeout,
// and the context it saw says DeadlineExceeded.
func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ctxErr error
		var events []Event
		c := New(quiet(), ShowReasons(true), Observer(func(ev Event) { events = append(events, ev) }))
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
		c := New(quiet(), Observer(func(Event) { events.Add(1) }))
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
					c.list(tt.kind)[0].begin()
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

// The observer sees every run with the previous status; the logger gets
// transitions and new reasons only.
func TestObserverAndLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		var seen []string
		c := New(
			Logger(slog.New(slog.NewJSONHandler(&logs, nil))),
			Observer(func(ev Event) {
				seen = append(seen, fmt.Sprintf("%s/%s %s->%s %v %v", ev.Kind, ev.Name, ev.Previous, ev.Status, ev.Duration, ev.Err))
			}),
		)
		results := []error{nil, nil, errors.New("a"), errors.New("a"), errors.New("b"), nil}
		var i int
		c.AddReadiness("db", func(context.Context) error {
			time.Sleep(time.Millisecond)
			i++
			return results[i-1]
		})
		for range results {
			probe(t, mounted(c), "/readyz")
		}
		want := []string{
			"readiness/db unknown->pass 1ms <nil>",
			"readiness/db pass->pass 1ms <nil>",
			"readiness/db pass->fail 1ms a",
			"readiness/db fail->fail 1ms a",
			"readiness/db fail->fail 1ms b",
			"readiness/db fail->pass 1ms <nil>",
		}
		if strings.Join(seen, "\n") != strings.Join(want, "\n") {
			t.Errorf("events:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
		}
		var lines []string
		for l := range strings.Lines(logs.String()) {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%s %s %s %v", m["level"], m["status"], m["previous"], m["error"]))
		}
		wantLogs := []string{
			"INFO pass unknown <nil>",
			"WARN fail pass a",
			"WARN fail fail b",
			"INFO pass fail <nil>",
		}
		if strings.Join(lines, "\n") != strings.Join(wantLogs, "\n") {
			t.Errorf("logs:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(wantLogs, "\n"))
		}
	})
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

// The run's context: deadline, values of its parent, Done made lazily and
// closed once.
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

// read returns the check's latest reading.
func (c *check) read() reading {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// appendTimeLocked writes what AppendFormat(RFC3339Nano) writes, whether
// the second is the one it formatted last time or a new one.
func TestAppendTime(t *testing.T) {
	base := time.Date(2026, 11, 22, 0, 23, 14, 0, time.UTC)
	tests := []struct {
		name string
		at   time.Time
	}{
		{"whole second", base},
		{"nanoseconds", base.Add(123456789)},
		{"same second, trailing zeros", base.Add(120000000)},
		{"same second, one nanosecond", base.Add(1)},
		{"next second", base.Add(time.Second + 5000)},
		{"back a second", base.Add(5000)},
		{"another zone", base.Add(987654321).In(time.FixedZone("X", -7*3600))},
		{"before 1970", time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"year one", time.Date(1, 1, 1, 0, 0, 0, 100, time.UTC)},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 1000, time.UTC)},
		{"zero time", time.Time{}},
		{"local with monotonic", time.Now()},
	}
	var c check // one check for all rows: each reuses what the last left
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.at.UTC().AppendFormat([]byte("x"), time.RFC3339Nano)
			if got := c.appendTimeLocked([]byte("x"), tt.at); !bytes.Equal(got, want) {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}
