// Package adaptive is the algorithm behind server.Admission: an in-flight
// limit that follows what the service can finish within a latency goal,
// measured from the requests it admits, and nothing else. It reads no
// clock of its own (the caller passes monotonic nanoseconds), so tests
// drive it exactly.
//
// # The rule
//
// Requests are admitted while fewer than Limit are in flight. Every
// Window (once at least minSamples requests completed in it) the limit is
// revised from the window's completions:
//
//   - The goal G is max(Target, Tolerance × baseline), where baseline is
//     the lowest mean latency of the windows of the last minute in which
//     nothing was refused: the service's own latency when it is not held
//     back, so a service that is slow by nature (a 200 ms report) is not
//     taken for an overloaded one. Windows with refusals never count, and
//     the lowest of a minute includes the time before a spike, so an
//     overload cannot raise its own goal (the minRTT drift of gradient
//     limiters).
//   - Mean latency above G in two windows in a row: the service is
//     queueing. Little's law gives the in-flight count that finishes in G
//     at the rate it completes work: completions per second × G. The limit
//     drops to that, but by half at most per window, so one slow window (a
//     GC pause) cannot empty it. One window over G alone changes nothing:
//     at 0.8 of capacity a burst of arrivals does that, and cutting the
//     limit to the rate of the moment then refused the next burst
//     (TestIOBoundNoFalseRefusals).
//   - Mean latency at or below G and the limit was reached (a request was
//     refused, or the peak in-flight touched it): the limit was what held
//     the service back, so it grows, by a quarter when the mean is below
//     half the goal and by an eighth otherwise.
//   - Otherwise it stays: a limit nobody reaches does not grow, so a quiet
//     period or a steady stream of timeouts cannot make it unbounded.
//
// The limit is always within [Min, Max]. Latency samples below zero count
// as zero, and samples longer than an hour as an hour; a window that ends
// before it began (a clock that went back) or lasted more than ten
// windows (a process that was stopped, an idle service) is discarded.
package adaptive

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Config holds the settings of a Limiter. Zero fields take the defaults.
type Config struct {
	Min, Max, Initial int           // bounds of the limit, and where it starts
	Target            time.Duration // the latency goal under overload
	Window            time.Duration // how often the limit is revised
	Tolerance         float64       // goal as a multiple of the unloaded latency
}

// The defaults.
const (
	DefaultMin       = 4
	DefaultMax       = 10000
	DefaultInitial   = 100
	DefaultTarget    = 50 * time.Millisecond
	DefaultWindow    = 100 * time.Millisecond
	DefaultTolerance = 2.0
)

const (
	// minSamples is how many completions a window needs before it
	// decides anything: fewer say too little about a mean.
	minSamples = 8
	// staleWindows: a window longer than this many windows is discarded.
	staleWindows = 10
	// maxSample caps one latency sample.
	maxSample = int64(time.Hour)
	// baselineSlots × baselineSlot is how far back the baseline looks.
	baselineSlots = 60
	baselineSlot  = int64(time.Second)
)

// WithDefaults returns c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.Min == 0 {
		c.Min = DefaultMin
	}
	if c.Max == 0 {
		c.Max = max(DefaultMax, c.Min)
	}
	if c.Initial == 0 {
		c.Initial = min(max(DefaultInitial, c.Min), c.Max)
	}
	if c.Target == 0 {
		c.Target = DefaultTarget
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Tolerance == 0 {
		c.Tolerance = DefaultTolerance
	}
	return c
}

// Validate returns an error naming the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.Min < 1:
		return fmt.Errorf("minimum limit %d: want at least 1", c.Min)
	case c.Max < c.Min:
		return fmt.Errorf("maximum limit %d: want at least the minimum, %d", c.Max, c.Min)
	case c.Max > math.MaxInt32:
		return fmt.Errorf("maximum limit %d: want at most %d", c.Max, math.MaxInt32)
	case c.Initial < c.Min || c.Initial > c.Max:
		return fmt.Errorf("initial limit %d: want between %d and %d", c.Initial, c.Min, c.Max)
	case c.Target < time.Millisecond || c.Target > time.Minute:
		return fmt.Errorf("target %v: want between 1ms and 1m", c.Target)
	case c.Window < time.Millisecond || c.Window > 10*time.Second:
		return fmt.Errorf("window %v: want between 1ms and 10s", c.Window)
	case math.IsNaN(c.Tolerance) || c.Tolerance < 1 || c.Tolerance > 100:
		return fmt.Errorf("tolerance %v: want between 1 and 100", c.Tolerance)
	}
	return nil
}

// ErrConfig wraps every error of New.
var ErrConfig = errors.New("adaptive: bad config")

// Limiter is the adaptive in-flight limit. Its methods are safe for
// concurrent use; Acquire and Release take no lock.
type Limiter struct {
	cfg Config

	limit    atomic.Int64
	inflight atomic.Int64

	// The current window, accumulated without a lock.
	count, sum, refused, peak atomic.Int64
	start                     atomic.Int64 // when the window began, caller's nanoseconds

	mu       sync.Mutex // one revision at a time
	baseline minimum    // of the means of unrefused windows, ns
	over     bool       // the last window's mean was above the goal
}

// minimum is the lowest value added within the last baselineSlots slots:
// the lowest of each slot, in a ring.
type minimum struct {
	slot [baselineSlots]int64 // the slot number each value is of; 0: none
	val  [baselineSlots]float64
}

func (m *minimum) add(now int64, v float64) {
	n := now/baselineSlot + 1 // never 0
	i := n % baselineSlots
	if m.slot[i] != n || v < m.val[i] {
		m.slot[i], m.val[i] = n, v
	}
}

// get returns the minimum, 0 when nothing was added in the horizon.
func (m *minimum) get(now int64) float64 {
	n := now/baselineSlot + 1
	var low float64
	for i, s := range m.slot {
		if s != 0 && s <= n && n-s < baselineSlots && (low == 0 || m.val[i] < low) {
			low = m.val[i]
		}
	}
	return low
}

// New returns a Limiter with cfg (zero fields: the defaults) whose first
// window starts at now.
func New(cfg Config, now int64) (*Limiter, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	l := &Limiter{cfg: cfg}
	l.limit.Store(int64(cfg.Initial))
	l.start.Store(now)
	return l, nil
}

// Config returns the settings in use, defaults filled in.
func (l *Limiter) Config() Config { return l.cfg }

// Limit returns the current limit.
func (l *Limiter) Limit() int { return int(l.limit.Load()) }

// InFlight returns the number of requests admitted and not yet released.
func (l *Limiter) InFlight() int { return int(l.inflight.Load()) }

// Baseline returns the unloaded latency learnt so far, 0 before any.
func (l *Limiter) Baseline() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Duration(l.baseline.get(l.start.Load()))
}

// Acquire admits a request unless the limit is reached. An admitted
// request must be released exactly once.
func (l *Limiter) Acquire() bool {
	n := l.inflight.Add(1)
	if n > l.limit.Load() {
		l.inflight.Add(-1)
		l.refused.Add(1)
		return false
	}
	// The peak is a hint for "the limit was reached"; a lost race only
	// delays growth by a window.
	if n > l.peak.Load() {
		l.peak.Store(n)
	}
	return true
}

// Release ends an admitted request that took latency, at now, and revises
// the limit when a window has passed.
func (l *Limiter) Release(latency time.Duration, now int64) {
	l.inflight.Add(-1)
	l.count.Add(1)
	l.sum.Add(min(max(int64(latency), 0), maxSample))
	if now-l.start.Load() >= int64(l.cfg.Window) {
		l.revise(now)
	}
}

// Drop ends an admitted request without a latency sample: one that did
// not do the work it was admitted for (its client left before it
// started), whose latency says nothing about the service.
func (l *Limiter) Drop() { l.inflight.Add(-1) }

// revise closes the window and revises the limit, unless another
// goroutine is at it.
func (l *Limiter) revise(now int64) {
	if !l.mu.TryLock() {
		return
	}
	defer l.mu.Unlock()
	start := l.start.Load()
	elapsed := now - start
	if elapsed < int64(l.cfg.Window) {
		if elapsed < 0 { // the clock went back: start again from now
			l.reset(now)
		}
		return // another goroutine closed the window
	}
	if elapsed > staleWindows*int64(l.cfg.Window) {
		l.reset(now)
		return
	}
	if l.count.Load() < minSamples {
		return // keep accumulating
	}
	n, sum := l.count.Swap(0), l.sum.Swap(0)
	refused := l.refused.Swap(0)
	peak := l.peak.Swap(l.inflight.Load())
	l.start.Store(now)
	l.limit.Store(int64(l.next(now, Window{
		Completed: n, Refused: refused, Peak: peak,
		Mean: time.Duration(sum / n), Elapsed: time.Duration(elapsed),
	})))
}

// reset discards the window.
func (l *Limiter) reset(now int64) {
	l.count.Store(0)
	l.sum.Store(0)
	l.refused.Store(0)
	l.peak.Store(l.inflight.Load())
	l.start.Store(now)
}

// Window is what one window measured.
type Window struct {
	Completed int64         // requests released with a sample
	Refused   int64         // requests refused for the limit
	Peak      int64         // the most in flight at once
	Mean      time.Duration // mean latency of the completed ones
	Elapsed   time.Duration // how long the window lasted
}

// next returns the limit after window w, which ended at now; l.mu is
// held.
func (l *Limiter) next(now int64, w Window) int {
	limit := float64(l.limit.Load())
	mean := float64(w.Mean)
	if w.Refused == 0 {
		l.baseline.add(now, mean)
	}
	goal := max(float64(l.cfg.Target), l.cfg.Tolerance*l.baseline.get(now))
	reached := w.Refused > 0 || float64(w.Peak) >= limit
	over := mean > goal
	defer func() { l.over = over }()
	switch {
	case over && !l.over:
		// One window over the goal is a burst as often as an overload:
		// wait for the next before cutting.
	case over:
		rate := float64(w.Completed) / float64(w.Elapsed) // per ns
		limit = min(limit, max(limit/2, rate*goal))
	case reached && mean < goal/2:
		limit += max(1, limit/4)
	case reached:
		limit += max(1, limit/8)
	}
	return int(min(max(math.Round(limit), float64(l.cfg.Min)), float64(l.cfg.Max)))
}
