package request

import (
	"context"
	"sync/atomic"
	"time"
)

// The request deadline (server.Deadline) kept in the State, which is the
// request's context: a handler that never waits on its context pays for
// no timer, no context and no request copy. context.WithDeadlineCause's
// context is made only when something waits (Done) or asks Err (which
// context.Cause asks first) once the deadline has passed; from then on
// the State
// answers through it, so contexts derived from the request are children
// of a real timer context, with the context package's fast path, and
// context.Cause reports the deadline's cause.
//
// Made eagerly, the timer context, its timer, the entry in the parent's
// children and the request copy were five of the sixteen allocations
// the whole edge made per request, and 10% of its CPU (benchmarks/
// BenchmarkCatalogStack).
type deadline struct {
	// after is how long after the State's start the deadline falls, plus
	// one, so that zero means not armed. It is atomic because goroutines
	// the handler starts may ask while the serving goroutine disarms.
	after atomic.Int64
	cause error // written by Arm before the handler runs
	timed atomic.Pointer[timedContext]
}

// timedContext is the deadline's context once something needed it.
type timedContext struct {
	context.Context
	cancel context.CancelFunc
}

// Arm sets the request deadline d from now, with cause, on the State that
// is ctx, the request's context, and reports whether it did. It does not
// when ctx is not the State itself (a layer between added a value or a
// cancel of its own, which would not see a deadline set here) or a
// deadline is armed already; the caller then derives a context of its
// own. Disarm must follow when the handler has returned.
func Arm(ctx context.Context, d time.Duration, cause error) (*State, bool) {
	s, ok := ctx.(*State)
	if !ok || s.dl.after.Load() != 0 {
		return nil, false
	}
	s.dl.cause = cause
	s.dl.after.Store(int64(time.Since(s.start)+d) + 1)
	return s, true
}

// Disarm ends the deadline Arm set once the handler has returned: the
// timer context, if one was made, is cancelled, as context.WithDeadline's
// cancel would be, and goes on answering for the State, so that whoever
// waited on it sees Done closed and Err set together. When none was made,
// the State answers for its parent again.
func (s *State) Disarm() {
	s.dl.after.Store(0)
	if t := s.dl.timed.Load(); t != nil {
		t.cancel()
	}
}

// deadlineContext returns the deadline's context when it was made, or
// when the deadline is armed and its context must be made now: wait is
// set (Done needs it) or the deadline has passed (so that Err and Cause
// say so). It returns nil otherwise: the State answers for its parent.
func (s *State) deadlineContext(wait bool) context.Context {
	if t := s.dl.timed.Load(); t != nil {
		return t
	}
	after := s.dl.after.Load()
	if after == 0 {
		return nil
	}
	due := s.start.Add(time.Duration(after - 1))
	if !wait && time.Now().Before(due) {
		return nil
	}
	ctx, cancel := context.WithDeadlineCause(s.Context, due, s.dl.cause)
	t := &timedContext{ctx, cancel}
	if !s.dl.timed.CompareAndSwap(nil, t) {
		cancel() // another goroutine made it first
		return s.dl.timed.Load()
	}
	if s.dl.after.Load() == 0 {
		cancel() // Disarm ran meanwhile and saw none to cancel
	}
	return t
}

// Deadline is the request deadline when one is armed and the parent's is
// not earlier, otherwise the parent's.
func (s *State) Deadline() (time.Time, bool) {
	after := s.dl.after.Load()
	pd, ok := s.Context.Deadline()
	if after == 0 {
		return pd, ok
	}
	due := s.start.Add(time.Duration(after - 1))
	if ok && pd.Before(due) {
		return pd, true
	}
	return due, true
}

// Done is closed when the request deadline passes or the parent is done.
func (s *State) Done() <-chan struct{} {
	if c := s.deadlineContext(true); c != nil {
		return c.Done()
	}
	return s.Context.Done()
}

// Err is context.DeadlineExceeded once the request deadline has passed,
// otherwise the parent's.
func (s *State) Err() error {
	if c := s.deadlineContext(false); c != nil {
		return c.Err()
	}
	return s.Context.Err()
}
