package shutdown

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

var (
	// ErrStuck is the error of a hook still running when the budget ran
	// out; the Manager abandoned it.
	ErrStuck = errors.New("shutdown: still running when the budget ran out")
	// ErrNotRun is the error of a hook that was never started because the
	// budget had run out before its turn.
	ErrNotRun = errors.New("shutdown: not run: the budget ran out first")
	// ErrShuttingDown is the error of a Serve, Add or OnDrain that came too
	// late: after shutdown began (Serve) or after its step had passed.
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
// the budget ran out (Err is ErrStuck) or never ran (Err is ErrNotRun).
// Wait joins one per such hook.
type HookError struct {
	Name     string
	Duration time.Duration // how long it ran; zero when it never ran
	Err      error
}

func (e *HookError) Error() string {
	switch {
	case errors.Is(e.Err, ErrStuck):
		return fmt.Sprintf("shutdown: hook %q stuck: still running after %v when the budget ran out", e.Name, e.Duration)
	case errors.Is(e.Err, ErrNotRun):
		return fmt.Sprintf("shutdown: hook %q not run: the budget ran out first", e.Name)
	default:
		return fmt.Sprintf("shutdown: hook %q failed after %v: %v", e.Name, e.Duration, e.Err)
	}
}

func (e *HookError) Unwrap() error { return e.Err }

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
	_ error = (*panicError)(nil)
)
