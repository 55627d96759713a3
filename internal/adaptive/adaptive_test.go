package adaptive

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"min below 1", Config{Min: -1}, false},
		{"max below min", Config{Min: 10, Max: 5}, false},
		{"max too large", Config{Max: math.MaxInt32 + 1}, false},
		{"initial above max", Config{Max: 50, Initial: 60}, false},
		{"initial below min", Config{Min: 10, Initial: 5}, false},
		{"target negative", Config{Target: -time.Second}, false},
		{"target too small", Config{Target: time.Microsecond}, false},
		{"target too large", Config{Target: time.Hour}, false},
		{"window too large", Config{Window: time.Minute}, false},
		{"tolerance NaN", Config{Tolerance: math.NaN()}, false},
		{"tolerance below 1", Config{Tolerance: 0.5}, false},
		{"tolerance infinite", Config{Tolerance: math.Inf(1)}, false},
		{"min 1 max 1", Config{Min: 1, Max: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, 0)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%+v): %v, want ok %v", tt.cfg, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Errorf("error %v is not ErrConfig", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	l, err := New(Config{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Min: 4, Max: 10000, Initial: 100, Target: 50 * time.Millisecond, Window: 100 * time.Millisecond, Tolerance: 2}
	if got := l.Config(); got != want {
		t.Errorf("config %+v, want %+v", got, want)
	}
	if l.Limit() != 100 {
		t.Errorf("initial limit %d", l.Limit())
	}
}

// TestAcquireAtLimit: exactly Limit requests are admitted at once.
func TestAcquireAtLimit(t *testing.T) {
	l, err := New(Config{Min: 3, Max: 3, Initial: 3}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if !l.Acquire() {
			t.Fatalf("request %d refused below the limit", i)
		}
	}
	if l.Acquire() {
		t.Fatal("fourth request admitted at a limit of 3")
	}
	if l.InFlight() != 3 {
		t.Fatalf("in flight %d, want 3", l.InFlight())
	}
	l.Drop()
	if !l.Acquire() {
		t.Fatal("refused after a release")
	}
}

// clock is a Limiter's time in a synctest bubble.
type clock struct{ zero time.Time }

func (c clock) now() int64 { return int64(time.Since(c.zero)) }

// service simulates a service of slots servers, each taking the current
// service time per request, first come first served, behind a Limiter:
// one slot is a CPU core, eight slots a database pool.
type service struct {
	lim   *Limiter
	clk   clock
	slots chan struct{}
	svc   atomic.Int64 // service time, ns
	// random: service times are exponential with mean svc (a database
	// whose queries vary), not all equal; rng draws them.
	random bool
	rngMu  sync.Mutex
	rng    *rand.Rand

	mu      sync.Mutex
	ok      int             // completed within the deadline
	late    int             // completed after it
	refused int             // refused by the limiter
	lat     []time.Duration // of the completed
}

const deadline = time.Second

func newService(t *testing.T, cfg Config, slots int, svc time.Duration) *service {
	t.Helper()
	clk := clock{time.Now()}
	lim, err := New(cfg, clk.now())
	if err != nil {
		t.Fatal(err)
	}
	s := &service{lim: lim, clk: clk, slots: make(chan struct{}, slots)}
	s.svc.Store(int64(svc))
	return s
}

// request is one request's life.
func (s *service) request() {
	start := time.Now()
	if !s.lim.Acquire() {
		s.mu.Lock()
		s.refused++
		s.mu.Unlock()
		return
	}
	s.slots <- struct{}{}
	d := time.Duration(s.svc.Load())
	if s.random {
		s.rngMu.Lock()
		d = time.Duration(s.rng.ExpFloat64() * float64(d))
		s.rngMu.Unlock()
	}
	time.Sleep(d)
	<-s.slots
	d = time.Since(start)
	s.lim.Release(d, s.clk.now())
	s.mu.Lock()
	defer s.mu.Unlock()
	if d > deadline {
		s.late++
		return
	}
	s.ok++
	s.lat = append(s.lat, d)
}

// drive sends Poisson arrivals at rate per second for d, and waits for
// every request to end.
func (s *service) drive(rate float64, d time.Duration, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for {
		time.Sleep(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
		if !time.Now().Before(end) {
			break
		}
		wg.Go(s.request)
	}
	wg.Wait()
}

// take returns and resets the counts.
func (s *service) take() (ok, late, refused int, p99 time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.Sort(s.lat)
	if len(s.lat) > 0 {
		p99 = s.lat[len(s.lat)*99/100]
	}
	ok, late, refused = s.ok, s.late, s.refused
	s.ok, s.late, s.refused, s.lat = 0, 0, 0, nil
	return
}

// TestGoodputUnderOverload: a one-core service of 2 ms a request (C =
// 500/s) behind the limiter, open-loop Poisson arrivals at multiples of
// C. Nothing is refused at 0.8 C; at 2 C and 5 C the goodput stays
// within 10% of C, what is admitted finishes within 250 ms at p99, and
// nothing admitted misses the 1 s deadline. Without a limiter the same
// service at 2 C finishes almost nothing within its deadline.
func TestGoodputUnderOverload(t *testing.T) {
	const capacity = 500.0
	for _, tt := range []struct {
		multiple float64
		refusals bool
	}{{0.8, false}, {1, true}, {2, true}, {5, true}} {
		t.Run(strconv.FormatFloat(tt.multiple, 'f', -1, 64)+"C", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newService(t, Config{}, 1, 2*time.Millisecond)
				s.drive(tt.multiple*capacity, 2*time.Second, 1) // the limit settles
				s.take()
				s.drive(tt.multiple*capacity, 10*time.Second, 2)
				ok, late, refused, p99 := s.take()
				goodput := float64(ok) / 10
				t.Logf("%.1f C: goodput %.0f/s (%.2f C), p99 %v, late %d, refused %d, limit %d",
					tt.multiple, goodput, goodput/capacity, p99, late, refused, s.lim.Limit())
				if !tt.refusals && refused != 0 {
					t.Errorf("%d refusals at %.1f C", refused, tt.multiple)
				}
				if want := min(tt.multiple, 0.9) * capacity * 0.97; goodput < want {
					t.Errorf("goodput %.0f/s, want at least %.0f", goodput, want)
				}
				if p99 > 250*time.Millisecond || late > 0 {
					t.Errorf("p99 of admitted %v, %d late; want <= 250ms and none", p99, late)
				}
			})
		})
	}
}

// TestNoLimiterCollapses is the baseline of TestGoodputUnderOverload: the
// same service without a limiter (a maximum it never reaches) at 2 C.
func TestNoLimiterCollapses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newService(t, Config{Min: DefaultMax, Max: DefaultMax, Initial: DefaultMax}, 1, 2*time.Millisecond)
		s.drive(1000, 10*time.Second, 3)
		ok, late, _, _ := s.take()
		if float64(ok)/10 > 0.25*500 {
			t.Errorf("goodput %.0f/s without a limiter at 2 C (late %d): the simulation does not overload", float64(ok)/10, late)
		}
	})
}

// TestSlowBackendRecovers: a database of 8 connections at 10 ms (C =
// 800/s) at 2 C; it slows to 100 ms for 30 s and recovers. Within 10 s of
// the recovery the limit is back within 15% of where it was before.
func TestSlowBackendRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newService(t, Config{}, 8, 10*time.Millisecond)
		s.drive(1600, 5*time.Second, 4)
		before := s.lim.Limit()
		s.svc.Store(int64(100 * time.Millisecond))
		s.drive(1600, 30*time.Second, 5)
		during := s.lim.Limit()
		s.svc.Store(int64(10 * time.Millisecond))
		s.drive(1600, 10*time.Second, 6)
		after := s.lim.Limit()
		t.Logf("limit before %d, at the end of the slow 30 s %d, 10 s after %d", before, during, after)
		if during >= before {
			t.Errorf("the limit did not fall while the backend was slow: %d, before %d", during, before)
		}
		if math.Abs(float64(after-before)) > 0.15*float64(before) {
			t.Errorf("limit %d 10 s after the recovery, want within 15%% of %d", after, before)
		}
	})
}

// TestRecoversAfterSpike: after 5 s at 5 C, back at 0.8 C the service
// refuses nothing once 2 s have passed.
func TestRecoversAfterSpike(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newService(t, Config{}, 1, 2*time.Millisecond)
		s.drive(2500, 5*time.Second, 7)
		spike := s.lim.Limit()
		s.drive(400, 2*time.Second, 8)
		s.take()
		s.drive(400, 10*time.Second, 9)
		_, _, refused, _ := s.take()
		t.Logf("limit after the spike %d, after 12 s at 0.8 C %d", spike, s.lim.Limit())
		if refused != 0 {
			t.Errorf("%d refused at 0.8 C after the spike", refused)
		}
	})
}

// TestSteadyTimeoutsStayBounded: a backend that hangs, ten slots at 2 s
// each (5 requests a second) under 50 a second, so that every sample is
// a long one: the limit does not climb towards the maximum (Netflix
// concurrency-limits #137). Its first requests, before any refusal, teach
// it that 2 s is the service's latency, so it does not fall to the
// minimum either.
func TestSteadyTimeoutsStayBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newService(t, Config{Min: 2}, 10, 2*time.Second)
		s.drive(50, 30*time.Second, 10)
		if l := s.lim.Limit(); l > 2*DefaultInitial || l < 2 {
			t.Errorf("limit %d after 30 s of a hung backend, want between 2 and %d", l, 2*DefaultInitial)
		}
	})
}

// TestSlowByNature: a service whose requests take 2 s however few run at
// once (a report; 1000 slots), at 200 a second, is not overloaded: the
// limit learns its latency from the windows it refuses nothing in and
// grows to what it needs (400 in flight), and is not cut to the 50 ms
// goal's Little's-law count.
func TestSlowByNature(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newService(t, Config{}, 1000, 2*time.Second)
		s.drive(200, 30*time.Second, 15)
		if l, b := s.lim.Limit(), s.lim.Baseline(); l < 400 || b != 2*time.Second {
			t.Errorf("limit %d, baseline %v after 30 s of 2 s requests at 200/s, want 400 or more and 2s", l, b)
		}
	})
}

// TestBadSamples: negative latencies count as zero, huge ones as an
// hour; a clock that goes back or jumps far ahead discards the window;
// none of it takes the limit out of its bounds.
func TestBadSamples(t *testing.T) {
	cfg := Config{Min: 5, Max: 200, Initial: 50}
	tests := []struct {
		name  string
		feed  func(l *Limiter)
		check func(t *testing.T, l *Limiter)
	}{
		{"negative latencies", func(l *Limiter) {
			for i := range 100 {
				l.Acquire()
				l.Release(-time.Hour, int64(i)*int64(time.Millisecond)*5)
			}
		}, func(t *testing.T, l *Limiter) {
			if l.Baseline() != 0 {
				t.Errorf("baseline %v from negative samples, want 0", l.Baseline())
			}
		}},
		{"huge latencies", func(l *Limiter) {
			for i := range 100 {
				l.Acquire()
				l.Release(math.MaxInt64, int64(i)*int64(time.Millisecond)*5)
			}
		}, func(t *testing.T, l *Limiter) {
			// A service that takes an hour and is never refused is slow by
			// nature: an hour is its baseline, and nothing overflowed.
			if l.Baseline() != time.Hour || l.Limit() != 50 {
				t.Errorf("baseline %v, limit %d after hour-long samples, want 1h and 50", l.Baseline(), l.Limit())
			}
		}},
		{"clock goes back", func(l *Limiter) {
			for i := range 100 {
				l.Acquire()
				l.Release(time.Second, -int64(i)*int64(time.Second))
			}
		}, func(t *testing.T, l *Limiter) {
			if l.Limit() != 50 {
				t.Errorf("limit %d with a clock going back, want it unchanged at 50", l.Limit())
			}
		}},
		{"clock jumps ahead", func(l *Limiter) {
			for i := range 100 {
				l.Acquire()
				l.Release(time.Second, int64(i)*int64(time.Hour))
			}
		}, func(t *testing.T, l *Limiter) {
			if l.Limit() != 50 {
				t.Errorf("limit %d with a clock jumping an hour per sample, want it unchanged at 50", l.Limit())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(cfg, 0)
			if err != nil {
				t.Fatal(err)
			}
			tt.feed(l)
			tt.check(t, l)
			if n := l.Limit(); n < 5 || n > 200 {
				t.Errorf("limit %d outside [5, 200]", n)
			}
			if l.InFlight() != 0 {
				t.Errorf("in flight %d after every release", l.InFlight())
			}
		})
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	l, err := New(Config{}, 0)
	if err != nil {
		b.Fatal(err)
	}
	zero := time.Now()
	for b.Loop() {
		if l.Acquire() {
			now := int64(time.Since(zero))
			l.Release(time.Millisecond, now)
		}
	}
}

// TestIOBoundNoFalseRefusals: a database of 8 connections whose queries
// take 10 ms on average, exponentially distributed (C = 800/s), Poisson
// arrivals at 0.8 C, before and right after 5 s at 5 C:
// a burst that lifts one window's mean over the goal is no overload, and
// nothing is refused at 0.8 C, the 2 s just after the spike included.
func TestIOBoundNoFalseRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newService(t, Config{}, 8, 10*time.Millisecond)
		s.random, s.rng = true, rand.New(rand.NewPCG(14, 1))
		s.drive(640, 10*time.Second, 11)
		_, _, before, _ := s.take()
		s.drive(4000, 5*time.Second, 12)
		s.take()
		s.drive(640, 10*time.Second, 13)
		ok, _, after, _ := s.take()
		t.Logf("refused at 0.8 C: %d before the spike, %d of %d after; limit %d", before, after, ok+after, s.lim.Limit())
		if before != 0 || after != 0 {
			t.Errorf("refused %d before and %d after the spike at 0.8 C, want none", before, after)
		}
	})
}
