//go:build unix

package secrets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/fsnotify/fsnotify"
)

// TestHubShared: every watch in the process shares one fsnotify watcher,
// which closes (with its goroutines, as goleak checks) when the last
// watch closes. Not parallel: it counts the process-wide hub's clients.
func TestHubShared(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(dirA, "one"), "1")
	writeFile(t, filepath.Join(dirA, "two"), "2")
	writeFile(t, filepath.Join(dirB, "three"), "3")
	var files []*File
	for _, p := range []string{filepath.Join(dirA, "one"), filepath.Join(dirA, "two"), filepath.Join(dirB, "three")} {
		f, err := Watch(t.Context(), p, PollInterval(0))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	theHub.opMu.Lock()
	w, clients := theHub.w, theHub.clients
	theHub.opMu.Unlock()
	if w == nil || clients != 3 {
		t.Fatalf("hub has watcher %v and %d clients, want one watcher and 3", w, clients)
	}
	if got := len(w.WatchList()); got != 2 {
		t.Fatalf("%d kernel watches for two directories, want 2: %v", got, w.WatchList())
	}
	_ = files[0].Close()
	if got := len(w.WatchList()); got != 2 {
		t.Fatalf("closing one of two watches of a directory dropped it: %v", w.WatchList())
	}
	_ = files[2].Close()
	realA, err := filepath.EvalSymlinks(dirA) // the hub watches real paths (macOS: /private/var)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.WatchList(); len(got) != 1 || got[0] != realA {
		t.Fatalf("watch list %v after closing dirB's only watch, want [%s]", got, realA)
	}
	_ = files[1].Close()
	theHub.opMu.Lock()
	defer theHub.opMu.Unlock()
	if theHub.w != nil || theHub.clients != 0 {
		t.Fatalf("hub still has watcher %v and %d clients after the last Close", theHub.w, theHub.clients)
	}
}

// TestHubDispatch: events reach the watches of their directory (or of the
// directory itself, for its removal) and no others; an error such as the
// inotify queue overflow makes every watch re-read.
func TestHubDispatch(t *testing.T) {
	h := &hub{routes: map[string]map[*hubClient]struct{}{}, all: map[*hubClient]struct{}{}}
	var a, b atomic.Int32
	ca := &hubClient{h: h, hint: func() { a.Add(1) }}
	cb := &hubClient{h: h, hint: func() { b.Add(1) }}
	h.all[ca], h.all[cb] = struct{}{}, struct{}{}
	h.routes["/s/a"] = map[*hubClient]struct{}{ca: {}}
	h.routes["/s/b"] = map[*hubClient]struct{}{cb: {}}

	tests := []struct {
		name  string
		send  func(ev chan<- fsnotify.Event, errs chan<- error)
		wantA int32
		wantB int32
	}{
		{name: "event in a's directory", send: func(ev chan<- fsnotify.Event, _ chan<- error) {
			ev <- fsnotify.Event{Name: "/s/a/..data", Op: fsnotify.Create}
		}, wantA: 1},
		{name: "a's directory itself removed", send: func(ev chan<- fsnotify.Event, _ chan<- error) {
			ev <- fsnotify.Event{Name: "/s/a", Op: fsnotify.Remove}
		}, wantA: 1},
		{name: "an unwatched directory", send: func(ev chan<- fsnotify.Event, _ chan<- error) {
			ev <- fsnotify.Event{Name: "/s/c/x", Op: fsnotify.Write}
		}},
		{name: "queue overflow", send: func(_ chan<- fsnotify.Event, errs chan<- error) {
			errs <- fsnotify.ErrEventOverflow
		}, wantA: 1, wantB: 1},
		{name: "read error", send: func(_ chan<- fsnotify.Event, errs chan<- error) {
			errs <- errors.New("short read")
		}, wantA: 1, wantB: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.Store(0)
			b.Store(0)
			ev, errs, done := make(chan fsnotify.Event), make(chan error), make(chan struct{})
			go h.dispatch(ev, errs, done)
			tt.send(ev, errs)
			close(ev) // dispatch handled the send before it could take the close
			<-done
			if a.Load() != tt.wantA || b.Load() != tt.wantB {
				t.Fatalf("hints a=%d b=%d, want %d %d", a.Load(), b.Load(), tt.wantA, tt.wantB)
			}
		})
	}
}

// The file's own directory is a symlink (a volume linked into /etc/app,
// say), not the Kubernetes ..data link inside it. Events alone keep the
// value current, whether another watch in the process reaches the same
// directory through the link or by its real path, and whichever of them
// closes first.
func TestSymlinkedDirectory(t *testing.T) {
	tests := []struct {
		name       string
		first      string // "link" or "real": which path joins the hub first
		closeFirst bool   // close the first watch before rotating
	}{
		{name: "link first", first: "link"},
		{name: "real first", first: "real"},
		{name: "link first, then closed", first: "link", closeFirst: true},
		{name: "real first, then closed", first: "real", closeFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			real := filepath.Join(root, "volume")
			link := filepath.Join(root, "app")
			if err := os.Mkdir(real, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, link); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(real, "a"), "a0")
			writeFile(t, filepath.Join(real, "b"), "b0")
			viaLink, viaReal := filepath.Join(link, "a"), filepath.Join(real, "b")
			if tt.first == "real" {
				viaLink, viaReal = filepath.Join(real, "a"), filepath.Join(link, "b")
			}
			first, err := Watch(t.Context(), viaLink, fastEvents...)
			if err != nil {
				t.Fatal(err)
			}
			defer first.Close()
			second := mustWatch(t, viaReal, fastEvents...)
			if tt.closeFirst {
				_ = first.Close()
			}

			writeFile(t, filepath.Join(real, "b"), "b1")
			waitValue(t, second, "b1")
			if !tt.closeFirst {
				writeFile(t, filepath.Join(real, "a"), "a1")
				waitValue(t, first, "a1")
			}
		})
	}
}

// A watched directory that becomes unreadable (chmod 000, a volume
// remounted with other permissions) cannot be watched any more: the watch
// moves to its parent, as for a removed directory, so the repair is seen
// by its event, not by the next poll. Polling is off: the events alone
// must bring the value back. Permission bits do not stop root, so the
// scenario runs as nobody (asNobody).
func TestUnreadableDirectory(t *testing.T) { asNobody(t, unreadableDirScenario) }

func unreadableDirScenario(t *testing.T, base string) {
	dir := filepath.Join(base, "volume")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "secret")
	writeFile(t, path, "v0")
	f := mustWatch(t, path, fastEvents...)
	if err := os.Chmod(dir, 0); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.Chmod(dir, 0o700) }() // for TempDir's cleanup
	waitFor(t, "the failed reload", func() bool { return f.Stats().Errors > 0 })
	if err := f.Check(t.Context()); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Check = %v, want permission denied", err)
	}
	if got := f.Value().Reveal(); got != "v0" {
		t.Fatalf("Value = %q, want the last good v0", got)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recovery by the parent's event", func() bool { return f.Check(t.Context()) == nil })
	// The watch is back on the directory itself: a rotation is seen.
	writeFile(t, path, "v1")
	waitValue(t, f, "v1")
}

// The directories whose watch moves to the parent, and those whose error
// is reported instead.
func TestFallsBack(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{err: syscall.ENOENT, want: true},
		{err: syscall.ENOTDIR, want: true},
		{err: syscall.EACCES, want: true},
		{err: fmt.Errorf("add: %w", syscall.EACCES), want: true},
		{err: syscall.ENOSPC}, // the inotify watch limit: polling only, said once
		{err: syscall.EMFILE},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			if got := fallsBack(tt.err); got != tt.want {
				t.Errorf("fallsBack(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
