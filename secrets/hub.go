package secrets

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/fsnotify/fsnotify"
)

// notifier tells one watch when something may have changed in the
// directories it cares about. Events are hints only: the watch re-reads and
// compares, so a spurious hint costs a read and a missed one is caught by
// polling.
type notifier interface {
	// ensure (re-)arms watches on dirs, falling back to the nearest
	// ancestor it can watch for a directory that is gone or unreadable, so
	// its re-creation or its repaired permissions are seen. It is called
	// before every read: a directory removed and created again needs a new
	// kernel watch.
	ensure(dirs []string) error
	// release drops every watch of this notifier.
	release()
}

// notifySource connects a watch to its event source; hint must not block.
type notifySource func(hint func()) notifier

// errNoWatcher says the process could not get an fsnotify watcher (the
// inotify instance limit, say): polling alone keeps the values current.
var errNoWatcher = errors.New("secrets: no file system watcher; polling only")

// theHub is the one fsnotify watcher of the process, shared by every File
// and Certificate: inotify instances are a per-user limited resource
// (fs.inotify.max_user_instances, often 128).
var theHub hub

func joinHub(hint func()) notifier { return theHub.join(hint) }

// hub owns the shared fsnotify watcher: created by the first client, closed
// (and its goroutines ended) when the last one leaves.
type hub struct {
	opMu    sync.Mutex // serialises join, leave, Add and Remove
	w       *fsnotify.Watcher
	done    chan struct{} // closed when the dispatcher of w returns
	clients int

	// routeMu guards routes alone and is never held while calling into
	// fsnotify, so the dispatcher can always deliver and fsnotify never
	// waits on us.
	routeMu sync.RWMutex
	routes  map[string]map[*hubClient]struct{} // watched directory → clients
	all     map[*hubClient]struct{}
}

type hubClient struct {
	h    *hub
	hint func()
	dirs map[string]struct{} // directories watched for this client; guarded by h.opMu
}

func (h *hub) join(hint func()) *hubClient {
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.start()
	h.clients++
	c := &hubClient{h: h, hint: hint, dirs: map[string]struct{}{}}
	h.routeMu.Lock()
	if h.all == nil {
		h.all = map[*hubClient]struct{}{}
		h.routes = map[string]map[*hubClient]struct{}{}
	}
	h.all[c] = struct{}{}
	h.routeMu.Unlock()
	return c
}

// start creates the watcher if there is none. A failure leaves the
// clients polling; the next ensure tries again. Called with opMu held.
func (h *hub) start() {
	if h.w != nil {
		return
	}
	if w, err := fsnotify.NewWatcher(); err == nil {
		h.w, h.done = w, make(chan struct{})
		go h.dispatch(w.Events, w.Errors, h.done)
	}
}

// dispatch turns fsnotify's events into hints for the clients watching the
// directory an event happened in (or the directory itself, for its own
// removal). Every error, the queue overflow above all, means events were
// lost: every client re-reads.
func (h *hub) dispatch(events <-chan fsnotify.Event, errs <-chan error, done chan struct{}) {
	defer close(done)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			h.route(ev.Name)
		case _, ok := <-errs:
			if !ok {
				return
			}
			h.broadcast()
		}
	}
}

func (h *hub) route(name string) {
	h.routeMu.RLock()
	defer h.routeMu.RUnlock()
	for c := range h.routes[filepath.Dir(name)] {
		c.hint()
	}
	for c := range h.routes[name] {
		c.hint()
	}
}

func (h *hub) broadcast() {
	h.routeMu.RLock()
	defer h.routeMu.RUnlock()
	for c := range h.all {
		c.hint()
	}
}

func (c *hubClient) ensure(dirs []string) error {
	h := c.h
	h.opMu.Lock()
	defer h.opMu.Unlock()
	h.start()
	if h.w == nil {
		return errNoWatcher
	}
	var errs []error
	want := make(map[string]struct{}, len(dirs))
	for _, d := range dirs {
		target, err := h.addNearest(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		want[target] = struct{}{}
	}
	for d := range want {
		if _, ok := c.dirs[d]; !ok {
			h.addRoute(d, c)
		}
	}
	for d := range c.dirs {
		if _, ok := want[d]; !ok {
			h.dropRoute(d, c)
		}
	}
	c.dirs = want
	return errors.Join(errs...)
}

// addNearest watches dir, or when it is gone or unreadable (EACCES: a
// chmod, a volume remounted with other permissions) the nearest ancestor
// it can watch, and returns what it watches: always by its real path. The
// ancestor sees the directory come back, or its mode change (IN_ATTRIB),
// and the hint that follows re-arms the watch on dir itself; without it
// the watch would be dropped and only a poll would notice the repair. The kernel
// follows symlinks, so a directory reached through a link and by its real
// path is one watch, which fsnotify files (and names its events) under
// whichever path came first; watching and routing by the real path keeps
// both watches' events flowing, and one Close from removing the other's
// watch. Called with opMu held.
func (h *hub) addNearest(dir string) (string, error) {
	for {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		}
		err := h.w.Add(dir)
		if err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir || !fallsBack(err) {
			return "", err
		}
		dir = parent
	}
}

// fallsBack reports whether a watch that failed with err should move to
// the parent directory: dir is gone, is not a directory any more, or may
// not be read.
func fallsBack(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrPermission)
}

// addRoute and dropRoute keep routes; called with opMu held.
func (h *hub) addRoute(dir string, c *hubClient) {
	h.routeMu.Lock()
	defer h.routeMu.Unlock()
	if h.routes[dir] == nil {
		h.routes[dir] = map[*hubClient]struct{}{}
	}
	h.routes[dir][c] = struct{}{}
}

func (h *hub) dropRoute(dir string, c *hubClient) {
	h.routeMu.Lock()
	delete(h.routes[dir], c)
	last := len(h.routes[dir]) == 0
	if last {
		delete(h.routes, dir)
	}
	h.routeMu.Unlock()
	if last && h.w != nil {
		// The kernel may have dropped the watch with its directory already.
		_ = h.w.Remove(dir)
	}
}

func (c *hubClient) release() {
	h := c.h
	h.opMu.Lock()
	for d := range c.dirs {
		h.dropRoute(d, c)
	}
	c.dirs = nil
	h.routeMu.Lock()
	delete(h.all, c)
	h.routeMu.Unlock()
	h.clients--
	var done chan struct{}
	if h.clients == 0 && h.w != nil {
		_ = h.w.Close()
		done = h.done
		h.w, h.done = nil, nil
	}
	h.opMu.Unlock()
	if done != nil {
		<-done
	}
}
