package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"
)

// Stats counts what a watch has done, for metrics and debugging.
type Stats struct {
	Loads      uint64    // reads attempted, the first one included
	Changes    uint64    // new values published, the first one included
	Errors     uint64    // reads that failed; each kept the last good value
	LastChange time.Time // when the current value was published; zero before
	LastError  error     // why the latest read failed; nil once one succeeds
}

// watcher is the machinery File and Certificate share: it turns event
// hints and poll ticks into debounced reloads on one goroutine, and keeps
// the outcome for Check and Stats. load runs on that goroutine only (and
// once in start, before it exists), so it needs no locks of its own.
type watcher struct {
	cfg    config
	name   string          // what the errors and logs name: the path(s)
	dirs   func() []string // directories to watch, recomputed before each read
	load   func() (changed bool, err error)
	onLoad func() // runs after a changed value is recorded, so Check and Stats already tell
	onStop func() // runs when the loop ends, after the watches are released

	hints  chan struct{} // one slot: a pending hint is enough
	n      notifier
	cancel context.CancelFunc
	done   chan struct{}

	watchFailed bool // the latest ensure failed; used by reload only

	loads, changes, errs atomic.Uint64
	last                 atomic.Pointer[outcome]
	closed               atomic.Bool
}

// outcome is the result of the latest read.
type outcome struct {
	err        error
	loaded     bool      // a value has been published at some point
	lastChange time.Time // when it was
}

// hooks are what File and Certificate plug into a watcher.
type hooks struct {
	dirs   func() []string
	load   func() (changed bool, err error)
	onLoad func()
	onStop func()
}

func startWatcher(ctx context.Context, cfg config, name string, h hooks) (*watcher, error) {
	w := &watcher{
		cfg:    cfg,
		name:   name,
		dirs:   h.dirs,
		load:   h.load,
		onLoad: h.onLoad,
		onStop: h.onStop,
		hints:  make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	w.last.Store(&outcome{err: ErrNotLoaded})
	// Arm the watch before the first read, so a change between the two is
	// seen (controller-runtime#2182).
	w.n = cfg.source(w.hint)
	prev, next, changed, err := w.read()
	if err != nil && !cfg.wait {
		w.n.release()
		return nil, err // returned to the caller, not logged
	}
	w.settle(prev, next, changed)
	ctx, w.cancel = context.WithCancel(ctx)
	go w.run(ctx)
	return w, nil
}

// hint is called by the event source for anything that happened in a
// watched directory; it never blocks.
func (w *watcher) hint() {
	select {
	case w.hints <- struct{}{}:
	default:
	}
}

// run reloads after the events stop for the debounce time, but no later
// than maxWait after the first of them; a poll tick counts as an event.
func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	defer func() {
		w.n.release()
		if w.onStop != nil {
			w.onStop()
		}
	}()
	var pollC <-chan time.Time
	if w.cfg.poll > 0 {
		t := time.NewTicker(w.cfg.poll)
		defer t.Stop()
		pollC = t.C
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	var (
		timerC  <-chan time.Time // nil unless a reload is pending
		pending time.Time        // when the first unserved hint came
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-timerC:
			timerC, pending = nil, time.Time{}
			w.reload()
			continue
		case <-w.hints:
		case <-pollC:
		}
		now := time.Now()
		if pending.IsZero() {
			pending = now
		}
		wait := min(w.cfg.debounce, pending.Add(w.cfg.maxWait()).Sub(now))
		if wait <= 0 {
			timerC, pending = nil, time.Time{}
			debounce.Stop()
			w.reload()
			continue
		}
		debounce.Reset(wait)
		timerC = debounce.C
	}
}

// reload reads once, records the outcome and says what happened.
func (w *watcher) reload() {
	prev, next, changed, _ := w.read()
	w.settle(prev, next, changed)
}

// read reads once and records the outcome: the one before and the new one.
func (w *watcher) read() (prev, next *outcome, changed bool, err error) {
	// Best effort: when no watch can be armed (the inotify watch limit,
	// say), polling keeps the value current; say so once, or a rotation
	// that takes PollInterval instead of Debounce has no explanation.
	w.watchArmed(w.n.ensure(w.dirs()))
	w.loads.Add(1)
	changed, err = w.load()
	prev = w.last.Load()
	next = &outcome{err: err, loaded: prev.loaded, lastChange: prev.lastChange}
	if err == nil {
		next.loaded = true
		if changed {
			next.lastChange = time.Now()
		}
	} else {
		w.errs.Add(1)
		if !prev.loaded {
			next.err = fmt.Errorf("%w: %w", ErrNotLoaded, err)
		}
	}
	w.last.Store(next)
	if changed {
		w.changes.Add(1)
	}
	return prev, next, changed, err
}

// settle logs a read's outcome and tells the subscribers of a new value.
func (w *watcher) settle(prev, next *outcome, changed bool) {
	w.log(prev, next, changed)
	if changed && w.onLoad != nil {
		w.onLoad()
	}
}

// watchArmed logs when arming the directory watches starts to fail and
// when it works again, not on every reload.
func (w *watcher) watchArmed(err error) {
	failed := err != nil
	if failed == w.watchFailed {
		return
	}
	w.watchFailed = failed
	l := w.cfg.log()
	switch {
	case failed && w.cfg.poll > 0:
		l.Warn("secret watch failed; changes are seen by polling only", slog.String("path", w.name), slog.Duration("poll_interval", w.cfg.poll), slog.Any("error", err))
	case failed:
		l.Warn("secret watch failed and polling is off; changes will not be seen", slog.String("path", w.name), slog.Any("error", err))
	default:
		l.Info("secret watch armed again", slog.String("path", w.name))
	}
}

// log reports changes and the start of a failure, not every failed poll,
// each in words that are true of the state: before a first value (only
// with WaitForFile) there is no last good value to keep.
func (w *watcher) log(prev, next *outcome, changed bool) {
	l := w.cfg.log()
	failing := next.err != nil && (prev.err == nil || prev.err.Error() != next.err.Error())
	switch {
	case failing && next.loaded:
		l.Warn("secret reload failed; keeping the last good value", slog.String("path", w.name), slog.Any("error", next.err))
	case failing && errors.Is(next.err, fs.ErrNotExist):
		l.Info("secret not loaded yet: waiting for the file to appear", slog.String("path", w.name), slog.Any("error", next.err))
	case failing:
		l.Warn("secret not loaded yet: the file cannot be used; waiting for a good one", slog.String("path", w.name), slog.Any("error", next.err))
	case changed && !prev.loaded:
		l.Info("secret loaded", slog.String("path", w.name))
	case changed:
		l.Info("secret reloaded", slog.String("path", w.name), slog.Uint64("changes", w.changes.Load()))
	case next.err == nil && prev.err != nil && prev.loaded:
		l.Info("secret readable again", slog.String("path", w.name))
	}
}

func (w *watcher) check() error {
	if w.closed.Load() {
		return ErrClosed
	}
	if err := w.last.Load().err; err != nil {
		return fmt.Errorf("secret %s: %w", w.name, err)
	}
	return nil
}

func (w *watcher) stats() Stats {
	o := w.last.Load()
	return Stats{
		Loads:      w.loads.Load(),
		Changes:    w.changes.Load(),
		Errors:     w.errs.Load(),
		LastChange: o.lastChange,
		LastError:  o.err,
	}
}

// close stops the loop and waits for it; later calls return at once.
func (w *watcher) close() {
	if w.closed.Swap(true) {
		<-w.done
		return
	}
	w.cancel()
	<-w.done
}

// watchDirs is the directory of each path, plus the directory a symlinked
// path finally points into when that is another one: a file linked in from
// another volume, or the timestamped directory of a Kubernetes volume, so a
// write in place there is seen too.
func watchDirs(paths ...string) []string {
	var dirs []string
	for _, p := range paths {
		dirs = append(dirs, filepath.Dir(p))
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}
