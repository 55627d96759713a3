package secrets

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// File is a secret file kept current: Value always returns the last good
// content, and the file is re-read when its directory changes (and on a
// poll). Create one with Watch. Its methods are safe for concurrent use.
type File struct {
	path string
	cfg  config
	cur  atomic.Pointer[reveal]
	sum  [32]byte // SHA-256 of cur's content; only load touches it, on the watcher's goroutine
	w    *watcher

	subMu   sync.Mutex
	subs    map[*subscriber]struct{}
	stopped bool
	subWG   sync.WaitGroup
}

// Watch reads the file at path and keeps it current until ctx ends or
// Close is called. A file that is missing, empty, not a regular file,
// larger than MaxSize or rejected by Validate is an error, unless
// WaitForFile(true) is given.
//
// Watch watches the file's directory, not the file, so every way files are
// replaced is seen: the Kubernetes ..data symlink swap, rename over the
// file (Vault Agent, consul-template), delete and re-create, write in
// place. Every event in the directory is only a hint: after Debounce of
// quiet the file is read, whole, until two reads agree, and a new value is
// published only when its bytes differ, it is not empty and it passes
// Validate. A failed read keeps the last good value and shows in Check,
// Stats and the Logger. Polling (PollInterval) backs the events up.
func Watch(ctx context.Context, path string, opts ...Option) (*File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	f := &File{path: abs, cfg: newConfig(opts), subs: map[*subscriber]struct{}{}}
	f.w, err = startWatcher(ctx, f.cfg, abs, hooks{
		dirs:   func() []string { return watchDirs(abs) },
		load:   f.load,
		onLoad: func() { f.publish(f.cur.Load()) },
		onStop: f.stopSubscribers,
	})
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	return f, nil
}

// Value returns the last good content: the zero Secret only while
// WaitForFile(true) waits for a first good read. It takes no lock and does
// not allocate, so it belongs on hot paths.
func (f *File) Value() Secret { return Secret{f.cur.Load()} }

// Path returns the absolute path of the watched file.
func (f *File) Path() string { return f.path }

// Check reports whether the latest read of the file failed (the value is
// then the last good one, or none yet), with the reason. It has the shape
// of a health check and never blocks; ctx is not used.
func (f *File) Check(context.Context) error { return f.w.check() }

// Stats returns the counts of reads, changes and errors so far.
func (f *File) Stats() Stats { return f.w.stats() }

// Subscribe calls fn with each new value published after it returns, in
// order, one call at a time, on a goroutine of its own: a slow subscriber
// delays nobody else, and when it falls behind it skips to the latest
// value rather than queueing old ones. A panic in fn is recovered (and
// logged). cancel stops further calls; a call already running finishes.
// After Close or the end of Watch's context, fn is not called again.
func (f *File) Subscribe(fn func(Secret)) (cancel func()) {
	s := &subscriber{fn: fn, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	f.subMu.Lock()
	defer f.subMu.Unlock()
	if f.stopped {
		return func() {}
	}
	f.subs[s] = struct{}{}
	f.subWG.Add(1)
	go f.deliver(s)
	return func() {
		f.subMu.Lock()
		delete(f.subs, s)
		f.subMu.Unlock()
		s.halt()
	}
}

// Close stops watching, releases the directory watches and waits for
// subscriber calls in progress to return (so do not call it from one). It
// always returns nil; later calls do nothing.
func (f *File) Close() error {
	f.w.close()
	f.subWG.Wait()
	return nil
}

// load is the watcher's read step for a File.
func (f *File) load() (bool, error) {
	b, err := readStable(f.path, &f.cfg)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(b)
	if f.cur.Load() != nil && f.sum == sum {
		return false, nil
	}
	if err := validate(f.cfg.validate, b); err != nil {
		return false, err
	}
	r := newSecret(string(b))
	clear(b) // best effort: the string is the one copy kept
	f.sum = sum
	f.cur.Store(r)
	return true, nil
}

// validate runs the user's validator; a panic in it is a failed validation.
func validate(fn func([]byte) error, b []byte) (err error) {
	if fn == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("secrets: validator panicked: %v", r)
		}
	}()
	if err := fn(b); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	return nil
}

type subscriber struct {
	fn     func(Secret)
	latest atomic.Pointer[reveal] // the one-slot mailbox: only the newest value waits
	wake   chan struct{}          // one slot
	stop   chan struct{}
	once   sync.Once
}

func (s *subscriber) halt() { s.once.Do(func() { close(s.stop) }) }

func (f *File) publish(p *reveal) {
	f.subMu.Lock()
	defer f.subMu.Unlock()
	for s := range f.subs {
		s.latest.Store(p)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (f *File) deliver(s *subscriber) {
	defer f.subWG.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		// select picks at random when both are ready: a cancel (or Close)
		// that came while fn was busy with the previous value wins.
		select {
		case <-s.stop:
			return
		default:
		}
		if p := s.latest.Swap(nil); p != nil {
			f.call(s.fn, Secret{p})
		}
	}
}

func (f *File) call(fn func(Secret), s Secret) {
	defer func() {
		if r := recover(); r != nil {
			f.cfg.log().Error("secret subscriber panicked", slog.String("path", f.path), slog.Any("panic", r))
		}
	}()
	fn(s)
}

// stopSubscribers ends every subscriber when the watch stops.
func (f *File) stopSubscribers() {
	f.subMu.Lock()
	defer f.subMu.Unlock()
	f.stopped = true
	for s := range f.subs {
		s.halt()
	}
	clear(f.subs)
}
