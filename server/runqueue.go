package server

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// runQueue holds admitted requests beyond what may run at once, parked
// in a queue of its own, so that the CPU-bound service's queue is one
// Admission sees, bounds and drains, and not the scheduler's.
//
// A handler that computes for 2 ms is never preempted (Go preempts after
// 10 ms), so on one core handlers run one after another, and requests
// beyond the first wait as runnable goroutines, or as bytes not yet read,
// before any middleware runs: the in-flight count stays at one while the
// queue grows, and every request, a refusal or a probe included, waits in
// that queue behind all the work. Two designs that only refused were
// measured first (BENCHMARKS.md, "Overload"): refusing while the
// scheduler's latency was above the goal, and capping the admission rate
// from it; both left refusals waiting 100–250 ms at p99 behind admitted
// work, because the work still queued in the scheduler.
//
// Here at most run admitted requests run; the others wait parked (not
// runnable), first come first served, so the scheduler's queue holds only
// the few running handlers and the cheap work of reading requests and
// refusing them, and refusals are answered in milliseconds. The wait is
// bounded by the latency goal: a request whose expected wait (the queue
// ahead of it times the mean run time, over GOMAXPROCS) is above twice
// the goal is refused at once, and one that has waited three times the
// goal, or whose context ended while it waited, is dropped before it
// starts. While run is held below its ceiling, a request yields once
// (runtime.Gosched) when it gets its turn, before its handler takes the
// CPU: the requests the scheduler holds then reach the queue, or a
// refusal, first, instead of waiting behind it.
//
// run follows the scheduler's latency (/sched/latencies:seconds, the
// time goroutines wait to run, read every few milliseconds): while its
// 90th percentile is above a tenth of the goal, the CPU is saturated and
// run drops to three quarters of what runs now, never below GOMAXPROCS;
// while it is below a twentieth and requests wait, run grows by an eighth;
// while it is low and none wait, it doubles, up to the maximum of the
// limit, where the queue is out of the way (and Acquire no longer
// yields). An I/O-bound service, whose handlers wait on a database rather
// than a CPU, does not raise the scheduler's latency, and run stays out
// of the way: the in-flight limit bounds it.
type runQueue struct {
	goal  time.Duration
	floor int64 // GOMAXPROCS at the start: run never goes below it
	ceil  int64

	run     atomic.Int64 // how many may run at once
	running atomic.Int64
	svc     atomic.Int64 // mean run time, ns (moving average)

	mu      sync.Mutex
	waiters []*waiter // FIFO; head at index 0
	waiting atomic.Int64
}

type waiter struct {
	ready   chan struct{} // closed when granted
	granted bool          // under runQueue.mu
}

var waiterPool = sync.Pool{New: func() any { return &waiter{} }}

// The queue's bounds, in goals: a request expected to wait longer than
// queueWait goals is refused at once, one that has waited queueDrop goals
// is dropped. One goal was measured first: a few requests in a thousand
// were refused at 0.8 of capacity on a shared machine, whose CPU comes
// and goes, and none at two goals; what is admitted still finishes within
// 250 ms at p99 at five times capacity.
const (
	queueWait = 2
	queueDrop = 3
)

// Steps of run.
const (
	runHigh = 10 // the scheduler's latency above goal/runHigh: saturated
	runLow  = 20 // below goal/runLow: room
)

func (q *runQueue) init(goal time.Duration, ceil int) {
	q.goal = goal
	q.floor = int64(max(runtime.GOMAXPROCS(0), 1))
	q.ceil = max(int64(ceil), q.floor)
	q.run.Store(q.ceil)
	q.svc.Store(int64(time.Millisecond))
}

// acquire waits for a turn to run; it returns the reason when the request
// is refused instead: ReasonQueue for an expected or actual wait beyond
// the goal, ReasonExpired for a context that ended while it waited.
func (q *runQueue) acquire(ctx context.Context) (Reason, bool) {
	if q.waiting.Load() == 0 {
		if q.running.Add(1) <= q.run.Load() {
			return 0, true
		}
		// Give the turn back, and hand it on if a waiter came meanwhile
		// (a release that saw it taken granted nothing).
		q.release()
	}
	q.mu.Lock()
	// Counted as waiting before running is read: a release that lowers
	// running either is seen here or sees this waiter (and fills).
	q.waiting.Add(1)
	run := q.run.Load()
	if len(q.waiters) == 0 && q.running.Load() < run {
		q.waiting.Add(-1)
		q.running.Add(1)
		q.mu.Unlock()
		return 0, true
	}
	// Requests queue here when the CPU is saturated: GOMAXPROCS of them
	// progress at once, however many run.
	if wait := time.Duration((int64(len(q.waiters)) + 1) * q.svc.Load() / min(run, q.floor)); wait > queueWait*q.goal {
		q.waiting.Add(-1)
		q.mu.Unlock()
		return ReasonQueue, false
	}
	w := waiterPool.Get().(*waiter)
	w.ready, w.granted = make(chan struct{}), false
	q.waiters = append(q.waiters, w)
	q.mu.Unlock()

	t := time.NewTimer(queueDrop * q.goal)
	defer t.Stop()
	var reason Reason
	select {
	case <-w.ready:
		waiterPool.Put(w)
		return 0, true
	case <-ctx.Done():
		reason = ReasonExpired
	case <-t.C:
		reason = ReasonQueue
	}
	q.mu.Lock()
	granted := w.granted
	if !granted {
		for i, x := range q.waiters {
			if x == w {
				q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
				break
			}
		}
		q.waiting.Add(-1)
	}
	q.mu.Unlock()
	if granted { // granted as it gave up: pass the turn on
		q.release()
	}
	waiterPool.Put(w)
	return reason, false
}

// release ends a turn and hands free turns to the waiters.
func (q *runQueue) release() {
	q.running.Add(-1)
	if q.waiting.Load() > 0 {
		q.fill()
	}
}

// fill grants turns to the head waiters while fewer than run run.
func (q *runQueue) fill() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.waiters) > 0 && q.running.Load() < q.run.Load() {
		w := q.waiters[0]
		q.waiters[0] = nil
		q.waiters = q.waiters[1:]
		q.waiting.Add(-1)
		q.running.Add(1)
		w.granted = true
		close(w.ready)
	}
}

// saturated reports whether run is held below its ceiling: the CPU was
// found saturated.
func (q *runQueue) saturated() bool { return q.run.Load() < q.ceil }

// observe records the run time of one request.
func (q *runQueue) observe(d time.Duration) {
	old := q.svc.Load()
	q.svc.Store(old + (int64(max(d, 0))-old)/16)
}

// decide revises run from the 90th percentile of the scheduler's latency
// (ns) since the last decision.
func (q *runQueue) decide(p90 float64) {
	run := q.run.Load()
	goal := float64(q.goal)
	switch {
	case p90 > goal/runHigh:
		run = min(run, q.running.Load()) * 3 / 4
	case p90 < goal/runLow && q.waiting.Load() > 0:
		run += max(1, run/8)
	case p90 < goal/runLow:
		run *= 2
	}
	q.run.Store(min(max(run, q.floor), q.ceil))
	if q.waiting.Load() > 0 {
		q.fill()
	}
}
