package shutdown

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"
)

// Step says which step of a shutdown an Event reports. (health.Kind, a
// different idea, says which question a health check answers.)
type Step uint8

// The steps, in the order they happen.
const (
	// Began: shutdown began; Cause says why (a *SignalError, the cause
	// given to Trigger, or a server's error).
	Began Step = iota + 1
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

// stepLog is how each step is logged: its name (String), the message,
// the key its Name goes under, whether its Duration is logged (under
// durationKey) and the level when it carries no error. Began and
// SecondSignal add attributes of their own (log).
var stepLog = [...]struct {
	name, msg, nameKey, durationKey string
	level                           slog.Level
}{
	Began:          {"began", "shutdown began", "", "", slog.LevelInfo},
	Draining:       {"draining", "draining: readiness is red, servers still serve", "", "delay", slog.LevelInfo},
	Stopping:       {"stopping", "stopping servers", "servers", "", slog.LevelInfo},
	Stopped:        {"stopped", "servers stopped", "", "duration", slog.LevelInfo},
	WorkerStuck:    {"worker stuck", "worker still running when its time ran out; abandoned", "worker", "duration", slog.LevelInfo},
	WorkersStopped: {"workers stopped", "workers stopped", "", "duration", slog.LevelInfo},
	HookDone:       {"hook done", "hook done", "hook", "duration", slog.LevelInfo},
	HookFailed:     {"hook failed", "hook failed", "hook", "duration", slog.LevelInfo},
	HookStuck:      {"hook stuck", "hook still running when its time ran out; abandoned", "hook", "duration", slog.LevelInfo},
	HookNotRun:     {"hook not run", "hook not run: the budget ran out first", "hook", "", slog.LevelInfo},
	ServeFailed:    {"serve failed", "server failed", "server", "", slog.LevelInfo},
	WorkerFailed:   {"worker failed", "worker failed", "worker", "", slog.LevelInfo},
	Refused:        {"refused", "too late: shutdown is under way", "name", "", slog.LevelWarn},
	SecondSignal:   {"second signal", "", "", "", slog.LevelWarn},
	Finished:       {"finished", "shutdown done", "", "duration", slog.LevelInfo},
}

func (k Step) String() string {
	if int(k) < len(stepLog) && stepLog[k].name != "" {
		return stepLog[k].name
	}
	return "Step(" + strconv.Itoa(int(k)) + ")"
}

// Event reports one step of a shutdown to the observers given with
// OnEvent. Which fields are set depends on Step.
type Event struct {
	Step     Step
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
	if int(ev.Step) >= len(stepLog) || stepLog[ev.Step].name == "" {
		logger.LogAttrs(context.Background(), slog.LevelInfo, ev.Step.String())
		return
	}
	l := stepLog[ev.Step]
	msg, level := l.msg, l.level
	var attrs []slog.Attr
	switch ev.Step {
	case Began:
		attrs = append(attrs, slog.String("cause", errText(ev.Cause)), slog.Duration("timeout", m.cfg.timeout))
	case SecondSignal:
		attrs = append(attrs, slog.String("signal", errText(ev.Cause)))
		var se *SignalError
		if m.cfg.exitOnSecond && errors.As(ev.Cause, &se) {
			msg = "second signal: exiting now"
			attrs = append(attrs, slog.Int("code", se.ExitCode()))
		} else {
			msg = "second signal: default signal handling restored; a third one ends the process"
		}
	}
	if l.nameKey != "" {
		attrs = append(attrs, slog.String(l.nameKey, ev.Name))
	}
	if l.durationKey != "" {
		attrs = append(attrs, slog.Duration(l.durationKey, ev.Duration))
	}
	if ev.Err != nil {
		if ev.Step != Refused {
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
