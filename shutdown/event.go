package shutdown

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"
)

// Kind says which step of a shutdown an Event reports.
type Kind uint8

// The steps, in the order they happen.
const (
	// Began: shutdown began; Cause says why (a *SignalError, the cause
	// given to Trigger, or a server's error).
	Began Kind = iota + 1
	// Draining: the OnDrain callbacks ran and the drain delay (Duration)
	// begins. Not sent when the delay is skipped or zero.
	Draining
	// Stopping: the servers begin to stop; Name lists their addresses.
	Stopping
	// Stopped: every server has stopped, in Duration; Err names the ones
	// that had to be closed at the deadline.
	Stopped
	// WorkerStuck: the worker Name was still running when its share of the
	// budget ran out, Duration after shutdown began; it was abandoned.
	WorkerStuck
	// WorkersStopped: every worker has returned or been abandoned, after
	// Duration of waiting; Err joins the failed and stuck ones.
	WorkersStopped
	// HookDone: the hook Name returned nil after Duration.
	HookDone
	// HookFailed: the hook Name returned Err (or panicked) after Duration.
	HookFailed
	// HookStuck: the hook Name was still running after Duration when its
	// time ran out (HookTimeout, its share of the budget) and was abandoned.
	HookStuck
	// HookNotRun: the hook Name was never started: the budget ran out
	// before its turn.
	HookNotRun
	// ServeFailed: the server Name (its address) failed with Err, for
	// example because the port is in use.
	ServeFailed
	// WorkerFailed: the worker Name returned Err (or panicked); before the
	// shutdown this begins it.
	WorkerFailed
	// Refused: a Serve, Go, Add or OnDrain for Name came after its step
	// had passed; Err is ErrShuttingDown.
	Refused
	// SecondSignal: a second signal (Cause, a *SignalError) arrived while
	// the shutdown ran.
	SecondSignal
	// Finished: the shutdown is over after Duration; Err is what Wait
	// returns.
	Finished
)

var kindNames = [...]string{
	Began:          "began",
	Draining:       "draining",
	Stopping:       "stopping",
	Stopped:        "stopped",
	WorkerStuck:    "worker stuck",
	WorkersStopped: "workers stopped",
	HookDone:       "hook done",
	HookFailed:     "hook failed",
	HookStuck:      "hook stuck",
	HookNotRun:     "hook not run",
	ServeFailed:    "serve failed",
	WorkerFailed:   "worker failed",
	Refused:        "refused",
	SecondSignal:   "second signal",
	Finished:       "finished",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Event reports one step of a shutdown to the observers given with
// OnEvent. Which fields are set depends on Kind.
type Event struct {
	Kind     Kind
	Name     string        // the hook or server the event is about
	Cause    error         // Began and SecondSignal: why
	Duration time.Duration // how long the step took (Draining: will take)
	Err      error
}

// emit tells the observers, then the logger.
func (m *Manager) emit(ev Event) {
	for _, fn := range m.cfg.observers {
		fn(ev)
	}
	m.log(ev)
}

func (m *Manager) log(ev Event) {
	logger := m.cfg.logger
	if logger == nil {
		logger = slog.Default()
	}
	level := slog.LevelInfo
	var msg string
	var attrs []slog.Attr
	switch ev.Kind {
	case Began:
		msg = "shutdown began"
		attrs = append(attrs, slog.String("cause", errText(ev.Cause)), slog.Duration("timeout", m.cfg.timeout))
	case Draining:
		msg = "draining: readiness is red, servers still serve"
		attrs = append(attrs, slog.Duration("delay", ev.Duration))
	case Stopping:
		msg = "stopping servers"
		attrs = append(attrs, slog.String("servers", ev.Name))
	case Stopped:
		msg = "servers stopped"
		attrs = append(attrs, slog.Duration("duration", ev.Duration))
	case WorkerStuck:
		msg = "worker still running when its time ran out; abandoned"
		attrs = append(attrs, slog.String("worker", ev.Name), slog.Duration("duration", ev.Duration))
	case WorkersStopped:
		msg = "workers stopped"
		attrs = append(attrs, slog.Duration("duration", ev.Duration))
	case WorkerFailed:
		msg = "worker failed"
		attrs = append(attrs, slog.String("worker", ev.Name))
	case HookDone:
		msg = "hook done"
		attrs = append(attrs, slog.String("hook", ev.Name), slog.Duration("duration", ev.Duration))
	case HookFailed:
		msg = "hook failed"
		attrs = append(attrs, slog.String("hook", ev.Name), slog.Duration("duration", ev.Duration))
	case HookStuck:
		msg = "hook still running when its time ran out; abandoned"
		attrs = append(attrs, slog.String("hook", ev.Name), slog.Duration("duration", ev.Duration))
	case HookNotRun:
		msg = "hook not run: the budget ran out first"
		attrs = append(attrs, slog.String("hook", ev.Name))
	case ServeFailed:
		msg = "server failed"
		attrs = append(attrs, slog.String("server", ev.Name))
	case Refused:
		msg = "too late: shutdown is under way"
		attrs = append(attrs, slog.String("name", ev.Name))
		level = slog.LevelWarn
	case SecondSignal:
		attrs = append(attrs, slog.String("signal", errText(ev.Cause)))
		var se *SignalError
		if m.cfg.exitOnSecond && errors.As(ev.Cause, &se) {
			msg = "second signal: exiting now"
			attrs = append(attrs, slog.Int("code", se.ExitCode()))
		} else {
			msg = "second signal: default signal handling restored; a third one ends the process"
		}
		level = slog.LevelWarn
	case Finished:
		msg = "shutdown done"
		attrs = append(attrs, slog.Duration("duration", ev.Duration))
	default:
		msg = ev.Kind.String()
	}
	if ev.Err != nil {
		if ev.Kind != Refused {
			level = slog.LevelError
		}
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
		var pe *panicError
		if errors.As(ev.Err, &pe) {
			attrs = append(attrs, slog.String("stack", string(pe.stack)))
		}
	}
	logger.LogAttrs(context.Background(), level, msg, attrs...)
}

func errText(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}
