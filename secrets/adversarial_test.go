//go:build unix

package secrets

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run against the real file system and the shared fsnotify
// watcher. Polling is off unless the case is about polling, so they prove
// the events alone keep the value current. They wait for a condition with
// a deadline; the deadline is never what is asserted.

// fastEvents: a short debounce keeps the suite quick; polling off.
var fastEvents = []Option{Debounce(10 * time.Millisecond), PollInterval(0)}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitValue(t *testing.T, f *File, want string) {
	t.Helper()
	waitFor(t, "value "+strconv.Quote(want), func() bool { return f.Value().Reveal() == want })
}

// recorder collects the values a subscriber sees.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func record(f *File) *recorder {
	r := &recorder{}
	f.Subscribe(func(s Secret) {
		r.mu.Lock()
		r.seen = append(r.seen, s.Reveal())
		r.mu.Unlock()
	})
	return r
}

func (r *recorder) values() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

func mustWatch(t *testing.T, path string, opts ...Option) *File {
	t.Helper()
	f, err := Watch(t.Context(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func TestKubernetesAtomicWriter(t *testing.T) {
	t.Parallel()
	for _, order := range []struct {
		name      string
		linkFirst bool
	}{{"links after the swap", false}, {"links before the swap", true}} {
		t.Run(order.name, func(t *testing.T) {
			t.Parallel()
			t.Run("three rotations", func(t *testing.T) {
				k := newKubeWriter(t, order.linkFirst)
				k.write(map[string]string{"password": "v1", "user": "app"})
				f := mustWatch(t, k.path("password"), fastEvents...)
				rec := record(f)
				for _, v := range []string{"v2", "v3", "v4"} {
					k.write(map[string]string{"password": v, "user": "app"})
					waitValue(t, f, v)
				}
				waitFor(t, "three callbacks", func() bool { return len(rec.values()) == 3 })
				if got := rec.values(); !slices.Equal(got, []string{"v2", "v3", "v4"}) {
					t.Fatalf("published %q", got)
				}
				if err := f.Check(t.Context()); err != nil {
					t.Fatalf("Check = %v", err)
				}
			})
			t.Run("a new key appears", func(t *testing.T) {
				k := newKubeWriter(t, order.linkFirst)
				k.write(map[string]string{"user": "app"})
				f := mustWatch(t, k.path("token"), append(fastEvents, WaitForFile(true))...)
				k.write(map[string]string{"user": "app", "token": "t1"})
				waitValue(t, f, "t1")
				k.write(map[string]string{"user": "app", "token": "t2"})
				waitValue(t, f, "t2")
			})
			t.Run("a removed key keeps its last value", func(t *testing.T) {
				k := newKubeWriter(t, order.linkFirst)
				k.write(map[string]string{"user": "app", "token": "t1"})
				f := mustWatch(t, k.path("token"), fastEvents...)
				k.write(map[string]string{"user": "app"})
				waitFor(t, "a failed reload", func() bool { return f.Stats().Errors > 0 })
				if got := f.Value().Reveal(); got != "t1" {
					t.Fatalf("Value = %q, want the last good t1", got)
				}
				if err := f.Check(t.Context()); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("Check = %v, want not exist", err)
				}
				k.write(map[string]string{"user": "app", "token": "t2"})
				waitValue(t, f, "t2")
			})
		})
	}
}

func TestRenameOver(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret")
	writeFile(t, path, "v0")
	f := mustWatch(t, path, fastEvents...)
	for i := 1; i <= 3; i++ {
		writeFile(t, path, "v"+strconv.Itoa(i))
		waitValue(t, f, "v"+strconv.Itoa(i))
	}
}

func TestTruncateThenWrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		debounce time.Duration
	}{
		{name: "default debounce", debounce: defaultDebounce},
		{name: "no debounce: every event reads", debounce: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "secret")
			writeFile(t, path, "old-password")
			f := mustWatch(t, path, Debounce(tt.debounce), PollInterval(0))
			rec := record(f)
			w, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0) // #nosec G304 -- test file
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond) // the writer's gap, not a wait for us
			_, _ = w.WriteString("new-pas")
			time.Sleep(5 * time.Millisecond)
			_, _ = w.WriteString("sword")
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			waitValue(t, f, "new-password")
			waitFor(t, "the callback of the final value", func() bool {
				v := rec.values()
				return len(v) > 0 && v[len(v)-1] == "new-password"
			})
			if slices.Contains(rec.values(), "") {
				t.Fatalf("published the empty value: %q", rec.values())
			}
			t.Logf("published %q", rec.values())
		})
	}
}

func TestDeleteAndRecreate(t *testing.T) {
	t.Parallel()
	const poll = 100 * time.Millisecond
	tests := []struct {
		name string
		gap  time.Duration
	}{
		{name: "no gap", gap: 0},
		{name: "50ms gap", gap: 50 * time.Millisecond},
		{name: "gap longer than the poll interval", gap: 3 * poll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "secret")
			writeFile(t, path, "v0")
			f := mustWatch(t, path, Debounce(10*time.Millisecond), PollInterval(poll))
			rec := record(f)
			for i := 1; i <= 3; i++ {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				time.Sleep(tt.gap) // the writer's gap
				// Not atomic on purpose: create (empty), then write.
				if err := os.WriteFile(path, []byte("v"+strconv.Itoa(i)), 0o600); err != nil {
					t.Fatal(err)
				}
				waitValue(t, f, "v"+strconv.Itoa(i))
			}
			waitFor(t, "the last callback", func() bool { v := rec.values(); return len(v) > 0 && v[len(v)-1] == "v3" })
			if got := rec.values(); !slices.IsSorted(got) || slices.Contains(got, "") {
				t.Fatalf("published %q: want increasing, never empty", got)
			}
		})
	}
}

func TestDirectoryRemovedAndRecreated(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	path := filepath.Join(dir, "secret")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "v0")
	f := mustWatch(t, path, fastEvents...) // no polling: the ancestor's events must do it
	for i := 1; i <= 2; i++ {
		errs := f.Stats().Errors
		if err := os.RemoveAll(filepath.Join(root, "a")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the removal to be seen", func() bool { return f.Stats().Errors > errs })
		if got := f.Value().Reveal(); got != "v"+strconv.Itoa(i-1) {
			t.Fatalf("Value = %q after the directory went", got)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, "v"+strconv.Itoa(i))
		waitValue(t, f, "v"+strconv.Itoa(i))
	}
}

func TestUnsafeFilesAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, defaultMaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "max"), []byte(strings.Repeat("x", defaultMaxSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"dangling": "nowhere", "loop": "loop", "null": "/dev/null"} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		file string
		want error // nil: loads
	}{
		{name: "1 MiB + 1", file: "big", want: ErrTooLarge},
		{name: "exactly 1 MiB", file: "max"},
		{name: "FIFO with no writer", file: "fifo", want: ErrNotRegular},
		{name: "directory", file: ".", want: ErrNotRegular},
		{name: "character device", file: "null", want: ErrNotRegular},
		{name: "dangling symlink", file: "dangling", want: fs.ErrNotExist},
		{name: "symlink loop", file: "loop", want: syscall.ELOOP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Watch(t.Context(), filepath.Join(dir, tt.file), fastEvents...)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				_ = f.Close()
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Watch = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestUnsafeFileSwappedIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		make func(path string) error
		want error
	}{
		{name: "FIFO", make: func(p string) error { return syscall.Mkfifo(p, 0o600) }, want: ErrNotRegular},
		{name: "1 MiB + 1", make: func(p string) error { return os.WriteFile(p, make([]byte, defaultMaxSize+1), 0o600) }, want: ErrTooLarge},
		{name: "symlink loop", make: func(p string) error { return os.Symlink("secret", p) }, want: syscall.ELOOP}, // secret → secret once renamed
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "secret")
			writeFile(t, path, "good")
			f := mustWatch(t, path, fastEvents...)
			tmp := filepath.Join(dir, "swap")
			if err := tt.make(tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the failed reload", func() bool { return f.Stats().Errors > 0 })
			if err := f.Check(t.Context()); !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			if got := f.Value().Reveal(); got != "good" {
				t.Fatalf("Value = %q, want the last good value", got)
			}
			writeFile(t, path, "good again")
			waitValue(t, f, "good again")
		})
	}
}

func TestSameBytesNoCallback(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret")
	writeFile(t, path, "same")
	f := mustWatch(t, path, fastEvents...)
	rec := record(f)
	loads := f.Stats().Loads
	writeFile(t, path, "same")                    // rename-over, same bytes
	_ = os.WriteFile(path, []byte("same"), 0o600) // in place, same bytes
	_ = os.Chtimes(path, time.Now(), time.Now())  // touch
	_ = os.Chmod(path, 0o640)                     // attributes only
	waitFor(t, "a reload", func() bool { return f.Stats().Loads > loads })
	writeFile(t, path, "different")
	waitFor(t, "a callback", func() bool { return len(rec.values()) > 0 })
	if got := rec.values(); got[0] != "different" {
		t.Fatalf("first callback %q: the same bytes were published again", got)
	}
}

// TestContinuousWriter: 1,000 rename-overs a second for 2s with the default
// debounce: a bounded number of reloads, the last value wins, subscribers
// see increasing values.
func TestContinuousWriter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret")
	writeFile(t, path, "0")
	f := mustWatch(t, path, PollInterval(0))
	rec := record(f)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(2 * time.Second)
	n := 0
	for time.Now().Before(end) {
		<-tick.C
		n++
		writeFile(t, path, strconv.Itoa(n))
	}
	waitValue(t, f, strconv.Itoa(n))
	waitFor(t, "the last callback", func() bool { v := rec.values(); return len(v) > 0 && v[len(v)-1] == strconv.Itoa(n) })
	// The max wait allows one reload a second while the writes go on, plus
	// the one after they stop; allow a few more for a slow machine's pauses.
	reloads := f.Stats().Loads - 1
	t.Logf("%d writes, %d reloads, published %q", n, reloads, rec.values())
	if reloads > 8 {
		t.Fatalf("%d reloads for %d writes: the debounce is not bounding them", reloads, n)
	}
	seen := rec.values()
	nums := make([]int, len(seen))
	for i, s := range seen {
		nums[i], _ = strconv.Atoi(s)
	}
	if !slices.IsSorted(nums) {
		t.Fatalf("subscriber saw %v out of order", nums)
	}
}
