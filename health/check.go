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

	// stop ends the Interval loop; guarded by owner.mu.
	stop context.CancelFunc

	mu sync.Mutex
	// inflight is the run whose function has not returned yet: while it is
	// set, no other run starts, even past its deadline.
	inflight *run
	// timer fires at the in-flight run's deadline. One per check, reset
	// for each run (there is never more than one).
	timer *time.Timer
	last  reading
	// frag is the latest reading as JSON members, without output:
	// "status":"pass","time":"…","duration":"…", and out the JSON string
	// of its failure reason ("" for none). The first probe after a run
	// renders them (stale says it must), into the same buffer each time;
	// probes copy them under mu.
	frag   []byte
	out    string
	stale  bool
	fails  int  // consecutive failed runs
	passed bool // has passed at least once
}

// reading is a check's latest result.
type reading struct {
	status Status
	err    error
	ran    bool
	at     time.Time
	took   time.Duration
}

// pendingLocked sets the reading of a check that has no result yet.
func (c *check) pendingLocked() {
	c.last = reading{status: c.statusLocked()}
	c.stale = true
}

// statusLocked is what the check counts as now: failing once the
// threshold of consecutive failures is reached, and, for readiness and
// startup, until it has passed once.
func (c *check) statusLocked() Status {
	failing := c.fails >= c.threshold || (!c.passed && c.kind != Liveness)
	switch {
	case !failing:
		return Pass
	case c.critical:
		return Fail
	}
	return Warn
}

// run is one invocation of a check. It is also the context the check
// receives: one allocation gives the check its deadline, and the check's
// own timer (not one per run) cancels it.
type run struct {
	c        *check
	parent   context.Context
	start    time.Time
	deadline time.Time
	// done is the context's Done channel, and what probes wait on: it is
	// closed just after the result is recorded (the function returned or
	// the deadline passed), so one channel serves both.
	done      chan struct{}
	isDecided bool // guarded by c.mu

	mu  sync.Mutex
	err error
}

var _ context.Context = (*run)(nil)

func (r *run) Deadline() (time.Time, bool) { return r.deadline, true }
func (r *run) Value(key any) any           { return r.parent.Value(key) }

func (r *run) Done() <-chan struct{} { return r.done }

func (r *run) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *run) cancel(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	r.err = err
	close(r.done)
}

// begin returns the run in flight, starting one when there is none, so
// that concurrent probes share a run and a hung check is never run twice.
func (c *check) begin() *run {
	c.mu.Lock()
	if r := c.inflight; r != nil {
		c.mu.Unlock()
		return r
	}
	r := c.newRunLocked(context.Background())
	c.mu.Unlock()
	go c.exec(r)
	return r
}

func (c *check) newRunLocked(parent context.Context) *run {
	now := time.Now()
	r := &run{
		c:        c,
		parent:   parent,
		start:    now,
		deadline: now.Add(c.timeout),
		done:     make(chan struct{}),
	}
	c.inflight = r
	if c.timer == nil {
		c.timer = time.AfterFunc(c.timeout, c.expire)
	} else {
		c.timer.Reset(c.timeout)
	}
	return r
}

// expire runs when the timer fires: the in-flight run, if past its
// deadline, fails now even though its function has not returned.
func (c *check) expire() {
	c.mu.Lock()
	r := c.inflight
	// A fire meant for an earlier run finds a later run (or none) here.
	if r == nil || time.Now().Before(r.deadline) {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	// Decide before cancelling, so the check's own "context deadline
	// exceeded" does not win the race.
	c.decide(r, c.timedOut(), false)
	r.cancel(context.DeadlineExceeded)
}

func (c *check) timedOut() error { return fmt.Errorf("%w after %v", ErrTimeout, c.timeout) }

// exec calls the check's function and records what it returned.
func (c *check) exec(r *run) {
	err := call(r, c.fn)
	c.timer.Stop()
	if errors.Is(err, context.DeadlineExceeded) && !time.Now().Before(r.deadline) {
		// A context derived from ours expired a moment before our timer.
		err = c.timedOut()
	}
	c.decide(r, err, true)
	r.cancel(context.Canceled)
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

// decide records the result of r unless it was decided already (the
// deadline passed first, or the Interval loop is stopping). returned says
// the check's function has returned: from then on the next probe starts a
// new run, and it must see this result, not the one before it.
func (c *check) decide(r *run, err error, returned bool) {
	c.mu.Lock()
	if returned && c.inflight == r {
		c.inflight = nil
	}
	if r.isDecided {
		c.mu.Unlock()
		return
	}
	r.isDecided = true
	if r.parent.Err() != nil {
		// Start's context ended: shutdown, not a failure of the check.
		c.mu.Unlock()
		return
	}
	now := time.Now()
	prev := c.last
	if err == nil {
		c.fails, c.passed = 0, true
	} else {
		c.fails++
	}
	st := c.statusLocked()
	took := now.Sub(r.start)
	c.recordLocked(st, err, now, took)
	c.mu.Unlock()

	ev := Event{Name: c.name, Kind: c.kind, Status: st, Time: now, Duration: took, Err: err}
	if prev.ran {
		ev.Previous = prev.status
	}
	// Observe before the caller wakes the probes (cancel closes done):
	// when a probe answers, the observer and the log have seen every run
	// it reports.
	c.owner.observe(ev, prev.err)
}

// recordLocked records the reading of a finished run. Its JSON is
// rendered by the next probe, on the probe's goroutine: rendering here
// would grow the small stack of every run's goroutine.
func (c *check) recordLocked(st Status, err error, at time.Time, took time.Duration) {
	c.last = reading{status: st, err: err, ran: true, at: at, took: took}
	c.stale = true
}

// renderLocked renders the latest reading into frag.
func (c *check) renderLocked() {
	c.stale = false
	b := append(c.frag[:0], `"status":"`...)
	b = append(b, c.last.status.String()...)
	if c.last.ran {
		b = append(b, `","time":"`...)
		b = c.last.at.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","duration":"`...)
		b = append(b, c.last.took.String()...)
	}
	c.frag = append(b, '"')
	switch {
	case c.last.err != nil:
		c.out = string(appendJSONString(nil, c.last.err.Error()))
	case !c.last.ran:
		c.out = `"no result yet"`
	default:
		c.out = ""
	}
}

// appendTo appends the check's latest reading to a response body, as the
// member "name":[{…}], and returns its status.
func (c *check) appendTo(b []byte, show bool) ([]byte, Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b = appendJSONString(b, c.name)
	b = append(b, `:[{`...)
	if c.stale {
		c.renderLocked()
	}
	b = append(b, c.frag...)
	if show && c.out != "" {
		b = append(b, `,"output":`...)
		b = append(b, c.out...)
	}
	return append(b, `}]`...), c.last.status
}

// launch starts the Interval loop, which ends with ctx or when the check
// is replaced. The caller holds owner.mu.
func (c *check) launch(ctx context.Context) {
	ctx, c.stop = context.WithCancel(ctx)
	go c.loop(ctx)
}

func (c *check) stopLoop() {
	if c.stop != nil {
		c.stop()
	}
}

func (c *check) loop(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		c.mu.Lock()
		r := c.newRunLocked(ctx)
		c.mu.Unlock()
		stop := context.AfterFunc(ctx, func() { r.cancel(context.Canceled) })
		// The loop runs the check itself: a run that overruns its interval
		// delays the next tick instead of starting a second run.
		c.exec(r)
		stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
