package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
	spawn     func() // execInflight, bound once

	// stop ends the Interval loop; guarded by owner.mu.
	stop context.CancelFunc

	mu sync.Mutex
	// inflight is the run whose function has not returned yet: while it is
	// set, no other run starts, even past its deadline.
	inflight *run
	// timer fires at the in-flight run's deadline (there is never more
	// than one run), or earlier: see newRunLocked. One per check; timerAt
	// is when it will fire, zero when it is not armed.
	timer   *time.Timer
	timerAt time.Time
	last    reading
	// frag is the latest reading as JSON members, without output:
	// "status":"pass","time":"…","duration":"…", and out the JSON string
	// of its failure reason ("" for none). The first probe after a run
	// renders them (stale says it must), into the same buffer each time;
	// probes copy them under mu.
	frag  []byte
	out   string
	stale bool
	// secText is "2006-01-02T15:04:05" for the Unix second sec: the part
	// of a run's time that the runs within one second share.
	secText []byte
	sec     int64
	fails   int  // consecutive failed runs
	passed  bool // has passed at least once
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
	parent   context.Context
	start    time.Time
	deadline time.Time

	// Guarded by the check's mu. waiters are the probes to wake once the
	// run is decided (its result recorded: the function returned or the
	// deadline passed); wbuf holds the first few without an allocation.
	isDecided bool
	waiters   []*waiter
	wbuf      [2]*waiter

	mu sync.Mutex
	// done is the context's Done channel, made when first asked for: a
	// check that never looks at it costs no channel.
	done chan struct{}
	err  error
}

var _ context.Context = (*run)(nil)

func (r *run) Deadline() (time.Time, bool) { return r.deadline, true }
func (r *run) Value(key any) any           { return r.parent.Value(key) }

func (r *run) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		if r.err != nil {
			r.done = closedChan
		} else {
			r.done = make(chan struct{})
		}
	}
	return r.done
}

// closedChan is the Done channel of a run cancelled before anyone asked.
var closedChan = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

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
	if r.done != nil {
		close(r.done)
	}
}

// waiter is one probe waiting for the runs it started or joined. pending
// counts those runs plus one the probe holds while it registers, so that
// the token is sent once, by whichever of them finishes last. Waiters are
// pooled per Checker (see Checker.waiters): a probe puts its waiter back
// only once nothing can touch it.
type waiter struct {
	pending atomic.Int32
	ch      chan struct{} // buffered: the send never blocks
}

func (w *waiter) release() {
	if w.pending.Add(-1) == 0 {
		w.ch <- struct{}{}
	}
}

// begin starts a run unless one is in flight, without waiting for it.
func (c *check) begin() { c.join(nil, nil) }

// join adds w (unless nil) to the waiters of the run in flight, starting
// one when there is none, so that concurrent probes share a run and a hung
// check is never run twice. A run already decided (past its deadline, its
// function still running) needs no wait. A run it starts comes from
// batch, when not nil.
func (c *check) join(w *waiter, batch *runBatch) {
	c.mu.Lock()
	r := c.inflight
	started := r == nil
	if started {
		r = c.newRunLocked(context.Background(), batch.take())
	}
	if w != nil && !r.isDecided {
		if r.waiters == nil {
			r.waiters = r.wbuf[:0]
		}
		r.waiters = append(r.waiters, w)
		w.pending.Add(1)
	}
	c.mu.Unlock()
	if started {
		go c.spawn()
	}
}

// execInflight runs the on-demand run join just started: it stays in
// flight until this call's exec returns. It is bound once per check, as
// spawn, so that starting a run's goroutine allocates nothing.
func (c *check) execInflight() {
	c.mu.Lock()
	r := c.inflight
	c.mu.Unlock()
	c.exec(r)
}

// runBatch hands out the runs one probe starts, allocated together: one
// allocation for all of them. Each run is still used once; a run kept by
// a hung check only keeps the few others of its batch from the collector.
type runBatch struct {
	free []run
	left int // on-demand checks the probe has yet to join, for sizing
}

// take returns a zeroed run, or nil from a nil batch.
func (b *runBatch) take() *run {
	if b == nil {
		return nil
	}
	if len(b.free) == 0 {
		b.free = make([]run, max(b.left, 1))
	}
	r := &b.free[0]
	b.free = b.free[1:]
	return r
}

// newRunLocked starts the check's next run in r, a zero run (new when nil).
func (c *check) newRunLocked(parent context.Context, r *run) *run {
	if r == nil {
		r = new(run)
	}
	now := time.Now()
	r.parent = parent
	r.start = now
	r.deadline = now.Add(c.timeout)
	c.inflight = r
	// The timer is armed for the deadline of an earlier run (never later
	// than this one's, the timeout being the same) or not at all; expire
	// moves it on to this run's deadline, so most runs touch no timer.
	switch {
	case c.timer == nil:
		c.timer = time.AfterFunc(c.timeout, c.expire)
		c.timerAt = r.deadline
	case c.timerAt.IsZero():
		c.timer.Reset(c.timeout)
		c.timerAt = r.deadline
	}
	return r
}

// expire runs when the timer fires: the in-flight run, if past its
// deadline, fails now even though its function has not returned; if not
// yet, the timer is set again for its deadline.
func (c *check) expire() {
	c.mu.Lock()
	r := c.inflight
	c.timerAt = time.Time{}
	if r == nil || r.isDecided {
		c.mu.Unlock()
		return
	}
	if left := time.Until(r.deadline); left > 0 {
		c.timer.Reset(left)
		c.timerAt = r.deadline
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
	waiters := r.waiters
	r.waiters = nil
	// Wake the probes once the result is recorded and observed: when a
	// probe answers, the observer and the log have seen every run it
	// reports.
	defer func() {
		for _, w := range waiters {
			w.release()
		}
	}()
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
		b = c.appendTimeLocked(b, c.last.at)
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

// appendTimeLocked appends t in UTC as t.AppendFormat(b, time.RFC3339Nano)
// would, formatting the date and clock only when the second changed since
// the last call: on demand every probe renders a new run's time.
func (c *check) appendTimeLocked(b []byte, t time.Time) []byte {
	t = t.UTC()
	if s := t.Unix(); s != c.sec || c.secText == nil {
		c.secText = t.AppendFormat(c.secText[:0], "2006-01-02T15:04:05")
		c.sec = s
	}
	b = append(b, c.secText...)
	if ns := t.Nanosecond(); ns != 0 {
		// Nine digits, without the trailing zeros, as the layout's
		// ".999999999" prints them.
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := len(frac)
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z')
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
		r := c.newRunLocked(ctx, nil)
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
