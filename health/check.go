package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// check is one registered check and its latest result.
type check struct {
	name      string
	kind      Kind
	fn        Check
	timeout   time.Duration
	interval  time.Duration
	critical  bool
	threshold int
	owner     *Checker
	stop      context.CancelFunc // ends the Interval loop; guarded by owner.mu

	mu sync.Mutex
	// inflight is the on-demand run whose function has not returned yet:
	// while it is set no other run starts, even past its deadline.
	inflight *run
	last     result
	fails    int  // consecutive failed runs
	passed   bool // has passed at least once
}

// result is what the latest run of a check found.
type result struct {
	status Status
	err    error
	ran    bool // false until a run is recorded
	at     time.Time
	took   time.Duration
}

// run is one invocation of a check.
type run struct {
	ctx    context.Context // what the check receives: parent plus the timeout
	cancel context.CancelFunc
	parent context.Context
	start  time.Time
	// done is closed once the run is decided: its function returned or
	// its deadline passed, whichever came first. decided is guarded by
	// the check's mu.
	done    chan struct{}
	decided bool
}

// status is what the check counts as now: failing once the threshold of
// consecutive failures is reached and, for readiness and startup, until
// it has passed once. The caller holds c.mu.
func (c *check) status() Status {
	failing := c.fails >= c.threshold || (!c.passed && c.kind != Liveness)
	switch {
	case !failing:
		return Pass
	case c.critical:
		return Fail
	}
	return Warn
}

// read returns the check's latest result.
func (c *check) read() result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// join returns the run in flight, starting one when there is none, so
// that concurrent probes share one run and a hung check never runs twice.
func (c *check) join() *run {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight == nil {
		c.inflight = c.newRun(context.Background())
		go c.exec(c.inflight)
	}
	return c.inflight
}

func (c *check) newRun(parent context.Context) *run {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	return &run{ctx: ctx, cancel: cancel, parent: parent, start: time.Now(), done: make(chan struct{})}
}

func (c *check) timedOut() error { return fmt.Errorf("%w after %v", ErrTimeout, c.timeout) }

// exec calls the check's function and records what it returned, unless
// the deadline passed first: then the timeout is recorded at once, while
// the function may still be running.
func (c *check) exec(r *run) {
	timer := time.AfterFunc(c.timeout, func() { c.decide(r, c.timedOut(), false) })
	err := call(r.ctx, c.fn)
	if deadline, _ := r.ctx.Deadline(); errors.Is(err, context.DeadlineExceeded) && !time.Now().Before(deadline) {
		// The check's own "context deadline exceeded" beat our timer.
		err = c.timedOut()
	}
	c.decide(r, err, true)
	timer.Stop()
	r.cancel()
}

// call runs fn, turning a panic into an error.
func call(ctx context.Context, fn Check) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, v)
		}
	}()
	return fn(ctx)
}

// decide records the result of r unless r was decided already. returned
// says the function has returned: from then on a probe starts a new run.
// Waiting probes are woken after the event is observed, so that when a
// probe answers, the OnEvent hook and the log have seen the run.
func (c *check) decide(r *run, err error, returned bool) {
	c.mu.Lock()
	if returned && c.inflight == r {
		c.inflight = nil
	}
	if r.decided {
		c.mu.Unlock()
		return
	}
	r.decided = true
	defer close(r.done)
	if r.parent.Err() != nil {
		// Start's context ended or the check was replaced: not a failure.
		c.mu.Unlock()
		return
	}
	if err == nil {
		c.fails, c.passed = 0, true
	} else {
		c.fails++
	}
	prev := c.last
	now := time.Now()
	c.last = result{status: c.status(), err: err, ran: true, at: now, took: now.Sub(r.start)}
	ev := Event{Name: c.name, Kind: c.kind, Status: c.last.status, Time: now, Duration: c.last.took, Err: err}
	c.mu.Unlock()

	if prev.ran {
		ev.Previous = prev.status
	}
	c.owner.observe(ev, prev.err)
}

// launch starts the Interval loop, which ends with ctx or when the check
// is replaced. The caller holds owner.mu.
func (c *check) launch(ctx context.Context) {
	ctx, c.stop = context.WithCancel(ctx)
	go c.loop(ctx)
}

// loop runs an Interval check at once and then every interval until ctx
// ends. It runs the check itself: a run that overruns its interval delays
// the next tick instead of starting a second run.
func (c *check) loop(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		c.exec(c.newRun(ctx))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
