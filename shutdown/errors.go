package shutdown

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

var (
	// ErrStuck is the error of a hook or worker still running when its
	// time ran out (its share of the budget, or the budget itself); the
	// Manager abandoned it and went on.
	ErrStuck = errors.New("shutdown: still running when its time ran out")
	// ErrNotRun is the error of a hook that was never started because the
	// budget had run out before its turn.
	ErrNotRun = errors.New("shutdown: not run: the budget ran out first")
	// ErrShuttingDown is the error of a Serve, Go, Add or OnDrain that came
	// too late: after shutdown began (Serve, Go) or after its step had
	// passed.
	ErrShuttingDown = errors.New("shutdown: already shutting down")
)

// SignalError is the cause of a shutdown begun by a signal: what
// context.Cause returns for Manager.Context. Use errors.As to get it.
type SignalError struct {
	Signal os.Signal
}

func (e *SignalError) Error() string {
	return "shutdown: received signal " + e.Signal.String()
}

// ExitCode is the conventional exit status of a process ended by the
// signal: 128 plus its number (143 for SIGTERM, 130 for SIGINT), or 1 when
// the signal has no number.
func (e *SignalError) ExitCode() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// HookError reports one hook that failed, panicked, was still running when
// its time ran out (Err is ErrStuck) or never ran (Err is ErrNotRun). Wait
// joins one per such hook.
type HookError struct {
	Name     string
	Duration time.Duration // how long it ran; zero when it never ran
	Err      error
}

func (e *HookError) Error() string {
	switch {
	case errors.Is(e.Err, ErrStuck):
		return fmt.Sprintf("shutdown: hook %q stuck: still running after %v when its time ran out", e.Name, e.Duration)
	case errors.Is(e.Err, ErrNotRun):
		return fmt.Sprintf("shutdown: hook %q not run: the budget ran out first", e.Name)
	default:
		return fmt.Sprintf("shutdown: hook %q failed after %v: %v", e.Name, e.Duration, e.Err)
	}
}

func (e *HookError) Unwrap() error { return e.Err }

// WorkerError reports one worker (see Manager.Go) that failed or panicked
// (Err is what it returned), or that was still running when its share of
// the budget ran out after the servers stopped (Err is ErrStuck). A worker
// that fails before the shutdown begins it: the WorkerError is then the
// Context's cause and comes first in Wait's error.
type WorkerError struct {
	Name     string
	Duration time.Duration // stuck: how long it ran on after shutdown began
	Err      error
}

func (e *WorkerError) Error() string {
	if errors.Is(e.Err, ErrStuck) {
		return fmt.Sprintf("shutdown: worker %q stuck: still running %v after shutdown began, when its time ran out", e.Name, e.Duration)
	}
	return fmt.Sprintf("shutdown: worker %q failed: %v", e.Name, e.Err)
}

func (e *WorkerError) Unwrap() error { return e.Err }

// panicError is what a recovered panic in a hook or drain callback
// becomes. The stack goes to the log, not into the error text.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

var (
	_ error = (*SignalError)(nil)
	_ error = (*HookError)(nil)
	_ error = (*WorkerError)(nil)
	_ error = (*panicError)(nil)
)
