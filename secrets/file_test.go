package secrets

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestReloadOutcomes drives one reload per case and checks what is kept,
// what is published and what Check and Stats say.
func TestReloadOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		opts      []Option
		change    func(t *testing.T, path string)
		want      string
		wantErr   error // nil: Check passes
		published int   // callbacks after the change
	}{
		{name: "new content is published", change: func(t *testing.T, p string) { writeFile(t, p, "new") }, want: "new", published: 1},
		{name: "the same bytes are not published again", change: func(t *testing.T, p string) { writeFile(t, p, "old") }, want: "old"},
		{name: "an empty file keeps the last value", change: func(t *testing.T, p string) { writeFile(t, p, "") }, want: "old", wantErr: ErrEmpty},
		{name: "only newlines are empty when trimmed", opts: []Option{TrimNewline(true)}, change: func(t *testing.T, p string) { writeFile(t, p, "\r\n\n") }, want: "old", wantErr: ErrEmpty},
		{name: "trailing newline trimmed", opts: []Option{TrimNewline(true)}, change: func(t *testing.T, p string) { writeFile(t, p, "new\n") }, want: "new", published: 1},
		{name: "trailing newline kept by default", change: func(t *testing.T, p string) { writeFile(t, p, "new\n") }, want: "new\n", published: 1},
		{name: "a removed file keeps the last value", change: func(t *testing.T, p string) { _ = os.Remove(p) }, want: "old", wantErr: fs.ErrNotExist},
		{name: "a file over the size limit keeps the last value", opts: []Option{MaxSize(4)}, change: func(t *testing.T, p string) { writeFile(t, p, "12345") }, want: "old", wantErr: ErrTooLarge},
		{name: "a file at the size limit is read", opts: []Option{MaxSize(4)}, change: func(t *testing.T, p string) { writeFile(t, p, "1234") }, want: "1234", published: 1},
		{name: "a directory in its place keeps the last value", change: func(t *testing.T, p string) { _ = os.Remove(p); _ = os.Mkdir(p, 0o700) }, want: "old", wantErr: ErrNotRegular},
		{name: "a rejected value keeps the last value", opts: []Option{Validate(rejectPrefix("bad"))}, change: func(t *testing.T, p string) { writeFile(t, p, "bad-value") }, want: "old", wantErr: errRejected},
		{name: "a panicking validator is a rejection", opts: []Option{Validate(func(b []byte) error {
			if string(b) == "boom" {
				panic("validator bug")
			}
			return nil
		})}, change: func(t *testing.T, p string) { writeFile(t, p, "boom") }, want: "old", wantErr: errAny},
		{name: "an accepted value is published", opts: []Option{Validate(rejectPrefix("bad"))}, change: func(t *testing.T, p string) { writeFile(t, p, "good") }, want: "good", published: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, src, path := watchFake(t, "old", tt.opts...)
				var mu sync.Mutex
				var got []string
				f.Subscribe(func(s Secret) { mu.Lock(); got = append(got, s.Reveal()); mu.Unlock() })
				before := f.Stats()
				tt.change(t, path)
				src.event()
				time.Sleep(time.Second)
				synctest.Wait()
				if v := f.Value().Reveal(); v != tt.want {
					t.Errorf("Value = %q, want %q", v, tt.want)
				}
				err := f.Check(t.Context())
				switch {
				case tt.wantErr == nil && err != nil:
					t.Errorf("Check = %v, want nil", err)
				case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
					t.Errorf("Check = %v, want %v", err, tt.wantErr)
				}
				mu.Lock()
				defer mu.Unlock()
				if len(got) != tt.published {
					t.Errorf("callbacks %q, want %d", got, tt.published)
				}
				st := f.Stats()
				if st.Loads != before.Loads+1 {
					t.Errorf("Loads %d → %d, want one more", before.Loads, st.Loads)
				}
				wantErrs := before.Errors
				if tt.wantErr != nil {
					wantErrs++
				}
				if st.Errors != wantErrs || st.Changes != before.Changes+uint64(tt.published) {
					t.Errorf("Stats = %+v, want Errors %d, Changes %d", st, wantErrs, before.Changes+uint64(tt.published))
				}
			})
		})
	}
}

var (
	errRejected = errors.New("rejected")
	errAny      = errors.New("any error")
)

func rejectPrefix(prefix string) func([]byte) error {
	return func(b []byte) error {
		if len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix {
			return errRejected
		}
		return nil
	}
}

func TestRecoversAfterFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, src, path := watchFake(t, "old")
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		src.event()
		time.Sleep(time.Second)
		if err := f.Check(t.Context()); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Check = %v, want not exist", err)
		}
		writeFile(t, path, "new")
		src.event()
		time.Sleep(time.Second)
		if err := f.Check(t.Context()); err != nil {
			t.Fatalf("Check after the file came back = %v", err)
		}
		if st := f.Stats(); st.LastError != nil || st.Errors != 1 || f.Value().Reveal() != "new" {
			t.Fatalf("Stats = %+v, Value %q", st, f.Value().Reveal())
		}
	})
}

func TestWaitForFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, src, path := watchFake(t, "", WaitForFile(true))
		if !f.Value().IsZero() {
			t.Fatal("a value before the file exists")
		}
		if err := f.Check(t.Context()); !errors.Is(err, ErrNotLoaded) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Check = %v, want ErrNotLoaded and the reason", err)
		}
		got := make(chan string, 1)
		f.Subscribe(func(s Secret) { got <- s.Reveal() })
		writeFile(t, path, "first")
		src.event()
		if v := <-got; v != "first" {
			t.Fatalf("first callback %q", v)
		}
		if err := f.Check(t.Context()); err != nil {
			t.Fatalf("Check = %v", err)
		}
	})
}

func TestWatchErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "empty"), "")
	writeFile(t, filepath.Join(dir, "big"), "12345")
	writeFile(t, filepath.Join(dir, "bad"), "bad")
	tests := []struct {
		name string
		file string
		opts []Option
		want error
	}{
		{name: "missing", file: "missing", want: fs.ErrNotExist},
		{name: "empty", file: "empty", want: ErrEmpty},
		{name: "too large", file: "big", opts: []Option{MaxSize(4)}, want: ErrTooLarge},
		{name: "rejected", file: "bad", opts: []Option{Validate(rejectPrefix("bad"))}, want: errRejected},
		{name: "a directory", file: ".", want: ErrNotRegular},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{}
			f, err := Watch(t.Context(), filepath.Join(dir, tt.file), append(tt.opts, withSource(src.source))...)
			if !errors.Is(err, tt.want) || f != nil {
				t.Fatalf("Watch = %v, %v; want %v", f, err, tt.want)
			}
			if src.released != 1 {
				t.Fatalf("the failed Watch released its watch %d times, want 1", src.released)
			}
		})
	}
}

// TestSubscribers checks the delivery rules: in order, one at a time, and
// neither a slow nor a panicking subscriber holds anyone up or loses the
// latest value.
func TestSubscribers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, src, path := watchFake(t, "v0", Debounce(0))
		var mu sync.Mutex
		var fast, slow []string
		inSlow := 0
		f.Subscribe(func(Secret) { panic("subscriber bug") })
		f.Subscribe(func(s Secret) { mu.Lock(); fast = append(fast, s.Reveal()); mu.Unlock() })
		f.Subscribe(func(s Secret) {
			mu.Lock()
			inSlow++
			if inSlow > 1 {
				t.Error("two calls of one subscriber at once")
			}
			slow = append(slow, s.Reveal())
			mu.Unlock()
			time.Sleep(time.Hour)
			mu.Lock()
			inSlow--
			mu.Unlock()
		})
		for i := 1; i <= 5; i++ {
			writeFile(t, path, "v"+strconv.Itoa(i))
			src.event()
			time.Sleep(time.Millisecond)
			synctest.Wait()
		}
		mu.Lock()
		if want := []string{"v1", "v2", "v3", "v4", "v5"}; !slices.Equal(fast, want) {
			t.Errorf("fast subscriber saw %q, want %q", fast, want)
		}
		if want := []string{"v1"}; !slices.Equal(slow, want) {
			t.Errorf("slow subscriber saw %q while busy, want %q", slow, want)
		}
		mu.Unlock()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if want := []string{"v1", "v5"}; !slices.Equal(slow, want) {
			t.Errorf("slow subscriber saw %q, want %q: it skips to the latest", slow, want)
		}
	})
}

func TestSubscribeCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, src, path := watchFake(t, "v0", Debounce(0))
		var got []string
		cancel := f.Subscribe(func(s Secret) { got = append(got, s.Reveal()) })
		writeFile(t, path, "v1")
		src.event()
		synctest.Wait()
		cancel()
		cancel() // twice is fine
		writeFile(t, path, "v2")
		src.event()
		synctest.Wait()
		if !slices.Equal(got, []string{"v1"}) {
			t.Fatalf("got %q, want only v1", got)
		}
	})
}

func TestStop(t *testing.T) {
	tests := []struct {
		name string
		stop func(f *File, cancel context.CancelFunc)
	}{
		{name: "Close", stop: func(f *File, _ context.CancelFunc) { _ = f.Close() }},
		{name: "context cancelled", stop: func(_ *File, cancel context.CancelFunc) { cancel() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "secret")
				writeFile(t, path, "v0")
				src := &fakeSource{}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				f, err := Watch(ctx, path, withSource(src.source), Debounce(0))
				if err != nil {
					t.Fatal(err)
				}
				calls := 0
				f.Subscribe(func(Secret) { calls++ })
				tt.stop(f, cancel)
				synctest.Wait() // every goroutine of the watch has returned: the bubble would not end otherwise
				writeFile(t, path, "v1")
				src.event()
				synctest.Wait()
				if calls != 0 || f.Value().Reveal() != "v0" {
					t.Fatalf("after stop: %d calls, Value %q", calls, f.Value().Reveal())
				}
				if src.released != 1 {
					t.Fatalf("released %d times, want 1", src.released)
				}
				if cancel := f.Subscribe(func(Secret) {}); cancel == nil {
					t.Fatal("Subscribe after stop returned a nil cancel")
				}
				_ = f.Close()
				_ = f.Close()
				if err := f.Check(t.Context()); tt.name == "Close" && !errors.Is(err, ErrClosed) {
					t.Fatalf("Check after Close = %v", err)
				}
			})
		})
	}
}

// cancel while the subscriber is busy with one value and the next is
// already waiting for it: the waiting value is never delivered. Its
// delivery goroutine then sees both the stop and the wake-up ready, so
// this is repeated to catch a random pick of the wake-up.
func TestSubscribeCancelWithValueWaiting(t *testing.T) {
	for range 20 {
		synctest.Test(t, func(t *testing.T) {
			f, src, path := watchFake(t, "v0", Debounce(0))
			gate := make(chan struct{})
			var got []string
			cancel := f.Subscribe(func(s Secret) {
				got = append(got, s.Reveal())
				<-gate
			})
			writeFile(t, path, "v1")
			src.event()
			synctest.Wait() // the subscriber is busy with v1
			writeFile(t, path, "v2")
			src.event()
			synctest.Wait() // v2 waits in its mailbox
			cancel()
			close(gate)
			synctest.Wait()
			if !slices.Equal(got, []string{"v1"}) {
				t.Fatalf("got %q, want only v1: v2 was delivered after cancel returned", got)
			}
		})
	}
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

func benchFile(b *testing.B) *File {
	b.Helper()
	path := filepath.Join(b.TempDir(), "secret")
	writeFile(b, path, "s3cr3t-password")
	// Silent: a log line in the middle of a result line breaks benchstat.
	f, err := Watch(b.Context(), path, Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	return f
}

var sink string

func BenchmarkValue(b *testing.B) {
	f := benchFile(b)
	b.ReportAllocs()
	for b.Loop() {
		sink = f.Value().Reveal()
	}
}

func BenchmarkValueParallel(b *testing.B) {
	f := benchFile(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var s string
		for pb.Next() {
			s = f.Value().Reveal()
		}
		_ = s
	})
}
