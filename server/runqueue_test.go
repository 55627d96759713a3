package server

import (
	"bytes"
	"context"
	"errors"
	"math"
	"runtime/metrics"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

const testGoal = 50 * time.Millisecond

// newTestQueue is a run queue with the goal of 50 ms, a floor of one (one
// CPU, whatever the machine) and a ceiling of 100.
func newTestQueue() *runQueue {
	var q runQueue
	q.init(testGoal, 100)
	q.floor = 1
	q.svc.Store(int64(2 * time.Millisecond))
	return &q
}

// saturate makes q find the CPU saturated: run drops to its floor.
func saturate(q *runQueue) { q.decide(float64(20 * time.Millisecond)) }

// TestRunQueueSaturated: with the CPU saturated, one request runs and the
// next wait in arrival order, each getting its turn as the one before
// releases it.
func TestRunQueueSaturated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newTestQueue()
		saturate(q)
		if q.run.Load() != 1 {
			t.Fatalf("run %d after saturation, want the floor 1", q.run.Load())
		}
		if _, ok := q.acquire(context.Background()); !ok {
			t.Fatal("first request refused")
		}
		var mu sync.Mutex
		var order []int
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Go(func() {
				if _, ok := q.acquire(context.Background()); !ok {
					t.Errorf("waiter %d refused", i)
					return
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
				q.release()
			})
			synctest.Wait() // parked, in this order
		}
		if q.waiting.Load() != 5 || q.running.Load() != 1 {
			t.Fatalf("%d waiting, %d running; want 5 and 1", q.waiting.Load(), q.running.Load())
		}
		q.release()
		wg.Wait()
		for i, got := range order {
			if got != i {
				t.Fatalf("turns in order %v, want arrival order", order)
			}
		}
		if q.running.Load() != 0 || q.waiting.Load() != 0 {
			t.Errorf("%d running, %d waiting at the end", q.running.Load(), q.waiting.Load())
		}
	})
}

// TestRunQueueRefusesBeyondGoal: a request whose expected wait (the
// queue ahead times the run time) is above twice the goal is refused at
// once.
func TestRunQueueRefusesBeyondGoal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newTestQueue()
		saturate(q)
		q.acquire(context.Background()) // runs
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		// 2 ms each: 50 wait within 100 ms, the 51st would wait 102 ms.
		for range 50 {
			wg.Go(func() { q.acquire(ctx) })
		}
		synctest.Wait()
		start := time.Now()
		if r, ok := q.acquire(context.Background()); ok || r != ReasonQueue {
			t.Errorf("51st waiter: %v %v, want refused for the queue", r, ok)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("refusal took %v, want at once", d)
		}
		cancel() // the waiters leave: expired
		wg.Wait()
		if q.waiting.Load() != 0 {
			t.Errorf("%d still waiting after their contexts ended", q.waiting.Load())
		}
	})
}

// TestRunQueueDropsLongWaits: a waiter not served within three times the
// goal is dropped before it starts, and one whose context ends while it waits
// is dropped as expired.
func TestRunQueueDropsLongWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newTestQueue()
		saturate(q)
		q.acquire(context.Background()) // runs and never releases
		start := time.Now()
		r, ok := q.acquire(context.Background())
		if ok || r != ReasonQueue || time.Since(start) != 3*testGoal {
			t.Errorf("waiter: %v %v after %v, want refused for the queue after %v", r, ok, time.Since(start), 3*testGoal)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		start = time.Now()
		r, ok = q.acquire(ctx)
		if ok || r != ReasonExpired || time.Since(start) != 10*time.Millisecond {
			t.Errorf("waiter with a 10 ms deadline: %v %v after %v, want expired after 10ms", r, ok, time.Since(start))
		}
		if q.waiting.Load() != 0 || q.running.Load() != 1 {
			t.Errorf("%d waiting, %d running; want 0 and 1", q.waiting.Load(), q.running.Load())
		}
	})
}

// TestRunQueueRecovers: once the scheduler's latency is low again, run
// grows back to its ceiling within a few decisions, and the queue is out
// of the way.
func TestRunQueueRecovers(t *testing.T) {
	q := newTestQueue()
	saturate(q)
	for i := range 30 {
		q.decide(float64(time.Millisecond))
		if q.run.Load() == q.ceil {
			t.Logf("back to %d after %d decisions", q.ceil, i+1)
			break
		}
	}
	if q.run.Load() != q.ceil || q.saturated() {
		t.Fatalf("run %d after 30 calm decisions (600 ms), want the ceiling %d", q.run.Load(), q.ceil)
	}
	// Between a twentieth and a tenth of the goal: held.
	q.run.Store(10)
	q.decide(float64(4 * time.Millisecond))
	if q.run.Load() != 10 {
		t.Errorf("run %d after a decision in the hold band, want 10", q.run.Load())
	}
}

// fakeSched is a cumulative scheduling latency histogram that a test
// adds waits to.
type fakeSched struct{ h metrics.Float64Histogram }

func newFakeSched() *fakeSched {
	return &fakeSched{metrics.Float64Histogram{
		Buckets: []float64{math.Inf(-1), 0, 0.001, 0.01, 0.1, 1, math.Inf(1)},
		Counts:  make([]uint64, 6),
	}}
}

// add records n waits in the bucket starting at lower (seconds).
func (f *fakeSched) add(lower float64, n uint64) {
	for i, b := range f.h.Buckets[:len(f.h.Counts)] {
		if b == lower {
			f.h.Counts[i] += n
			return
		}
	}
	panic("no bucket")
}

// TestAdmissionFollowsScheduler: an Admission whose runtime reports
// goroutines waiting 10 ms and more for a CPU parks what it admits
// beyond the floor, and refuses at once what would wait past the goal,
// with ReasonQueue; once the waits are short, it admits without queueing.
func TestAdmissionFollowsScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		a := newTestAdmission(t, nil, &buf, InitialLimit(1000)) // the in-flight limit out of the way
		a.q.floor = 1
		sched := newFakeSched()
		a.rt.read = func() reading { return reading{sched: &sched.h} }
		ctx := context.Background()
		time.Sleep(decideInterval)
		p, _ := a.Acquire(ctx) // the first read: the histogram's start
		p.Release()
		sched.add(0.01, 100) // 10–100 ms waits: saturated
		time.Sleep(decideInterval)
		first, err := a.Acquire(ctx)
		if err != nil || a.q.run.Load() != 1 {
			t.Fatalf("Acquire: %v, run %d; want admitted and run 1", err, a.q.run.Load())
		}
		var refusal *Refusal
		for range 200 {
			go func() {
				if p, err := a.Acquire(ctx); err == nil {
					p.Release()
				}
			}()
			synctest.Wait()
		}
		_, err = a.Acquire(ctx)
		if !errors.As(err, &refusal) || refusal.Reason != ReasonQueue {
			t.Fatalf("Acquire behind a full queue: %v, want refused for the queue", err)
		}
		first.Release()
		synctest.Wait()
		if a.q.waiting.Load() != 0 {
			t.Errorf("%d waiting after the turns passed", a.q.waiting.Load())
		}
		for range 30 { // calm: short waits
			sched.add(0, 100)
			time.Sleep(decideInterval)
			p, err := a.Acquire(ctx)
			if err != nil {
				t.Fatalf("refused once calm: %v", err)
			}
			p.Release()
		}
		if a.q.saturated() {
			t.Errorf("run %d after 600 ms of short waits, want the ceiling", a.q.run.Load())
		}
	})
}

// TestRunQueueCountsBalance: many requests acquiring and releasing
// while run moves up and down, some giving up as they wait: at the end
// nothing is counted as running or waiting. A turn lost or counted twice
// shows here (one was, in the fast path, and halved the goodput after a
// spike in the overload test).
func TestRunQueueCountsBalance(t *testing.T) {
	q := newTestQueue()
	q.goal = time.Millisecond // waits give up quickly
	stop := make(chan struct{})
	var flip sync.WaitGroup
	flip.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			q.run.Store(int64(1 + i%2))
			q.fill()
			time.Sleep(50 * time.Microsecond)
		}
	})
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 1000 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(g*i%700)*time.Microsecond)
				if _, ok := q.acquire(ctx); ok {
					if i%3 == 0 {
						time.Sleep(20 * time.Microsecond)
					}
					q.release()
				}
				cancel()
			}
		})
	}
	wg.Wait()
	close(stop)
	flip.Wait()
	if r, w := q.running.Load(), q.waiting.Load(); r != 0 || w != 0 || len(q.waiters) != 0 {
		t.Fatalf("after every request ended: %d running, %d waiting, %d in the queue; want none", r, w, len(q.waiters))
	}
}
