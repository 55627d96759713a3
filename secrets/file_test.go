package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// watchFake starts a Watch on a fresh file fed by a fakeSource.
func watchFake(t *testing.T, content string, opts ...Option) (*File, *fakeSource, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if content != "" {
		writeFile(t, path, content)
	}
	src := &fakeSource{}
	f, err := Watch(t.Context(), path, append([]Option{withSource(src.source)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f, src, path
}

func TestDebounce(t *testing.T) {
	tests := []struct {
		name      string
		debounce  time.Duration
		events    int           // events, one every gap
		gap       time.Duration // between events
		want      time.Duration // from the first event to the new value
		wantLoads uint64        // reads after the start
	}{
		{name: "one event waits the default debounce", debounce: defaultDebounce, events: 1, want: defaultDebounce, wantLoads: 1},
		{name: "a burst is read once after the last event", debounce: defaultDebounce, events: 5, gap: 20 * time.Millisecond, want: 80*time.Millisecond + defaultDebounce, wantLoads: 1},
		{name: "a continuous stream is read after the max wait", debounce: defaultDebounce, events: 150, gap: 10 * time.Millisecond, want: defaultMaxWait, wantLoads: 2},
		{name: "zero debounce reads at once", debounce: 0, events: 1, want: 0, wantLoads: 1},
		{name: "a debounce above a second is not cut short", debounce: 3 * time.Second, events: 1, want: 3 * time.Second, wantLoads: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, src, path := watchFake(t, "old", Debounce(tt.debounce), PollInterval(0))
				writeFile(t, path, "new")
				start := time.Now()
				var mu sync.Mutex
				var readAt time.Time
				f.Subscribe(func(Secret) {
					mu.Lock()
					readAt = time.Now()
					mu.Unlock()
				})
				for i := range tt.events {
					if i > 0 {
						time.Sleep(tt.gap)
					}
					src.event()
				}
				time.Sleep(10 * time.Second)
				synctest.Wait()
				mu.Lock()
				defer mu.Unlock()
				if got := readAt.Sub(start); got != tt.want {
					t.Errorf("new value %v after the first event, want %v", got, tt.want)
				}
				if got := f.Stats().Loads - 1; got != tt.wantLoads {
					t.Errorf("%d reads after the start, want %d", got, tt.wantLoads)
				}
			})
		})
	}
}

func TestPollInterval(t *testing.T) {
	tests := []struct {
		name string
		poll time.Duration
		want string // the value 30s after the change, with no event
	}{
		{name: "polling finds a change no event announced", poll: 10 * time.Second, want: "new"},
		{name: "polling off: only events count", poll: 0, want: "old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f, _, path := watchFake(t, "old", PollInterval(tt.poll))
				writeFile(t, path, "new")
				time.Sleep(30 * time.Second)
				synctest.Wait()
				if got := f.Value().Reveal(); got != tt.want {
					t.Errorf("Value = %q, want %q", got, tt.want)
				}
			})
		})
	}
}

func TestDefaultPollLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, _, path := watchFake(t, "old")
		writeFile(t, path, "new")
		time.Sleep(defaultPollInterval + defaultDebounce - time.Millisecond)
		synctest.Wait()
		if got := f.Value().Reveal(); got != "old" {
			t.Fatalf("changed before the poll and its debounce: %q", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := f.Value().Reveal(); got != "new" {
			t.Fatalf("Value = %q after one poll interval and debounce, want new", got)
		}
	})
}

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

// TestContinuousWriterBounded: a file rewritten every millisecond is read
// once per max wait, never loses the last value, and subscribers see
// values in order.
func TestContinuousWriterBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, src, path := watchFake(t, "0", PollInterval(0))
		var mu sync.Mutex
		var seen []int
		f.Subscribe(func(s Secret) {
			n, _ := strconv.Atoi(s.Reveal())
			mu.Lock()
			seen = append(seen, n)
			mu.Unlock()
		})
		const writes = 2000 // 1,000 a second for 2s
		for i := 1; i <= writes; i++ {
			writeFile(t, path, strconv.Itoa(i))
			src.event()
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := f.Value().Reveal(); got != strconv.Itoa(writes) {
			t.Fatalf("Value = %q, want the last write %d", got, writes)
		}
		// Reads at 1s (the max wait) and just past 2s (the next max wait
		// ends 1ms after the last write): two reads for 2,000 writes.
		if loads := f.Stats().Loads - 1; loads != 2 {
			t.Errorf("%d reloads for %d writes, want 2", loads, writes)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.IsSorted(seen) || seen[len(seen)-1] != writes {
			t.Errorf("subscriber saw %v: want increasing, ending at %d", seen, writes)
		}
	})
}

// TestLogger: a change is logged at Info, a failure once at Warn however
// often the poll finds it again, recovery at Info; the content never.
func TestLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, nil))
		f, src, path := watchFake(t, "first-s3cr3t", Logger(logger), PollInterval(time.Second))
		writeFile(t, path, "second-s3cr3t")
		src.event()
		time.Sleep(time.Second / 2)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // five polls find it missing
		writeFile(t, path, "second-s3cr3t")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		_ = f.Close()

		msgs := logMessages(t, buf.String())
		want := []string{
			"INFO secret loaded",
			"INFO secret reloaded",
			"WARN secret reload failed; keeping the last good value",
			"INFO secret readable again",
		}
		if !slices.Equal(msgs, want) {
			t.Errorf("logged %q, want %q", msgs, want)
		}
		if strings.Contains(buf.String(), "s3cr3t") {
			t.Errorf("the log holds the secret:\n%s", buf.String())
		}
	})
}

// logMessages returns "LEVEL msg" for each JSON line slog wrote to out.
func logMessages(t *testing.T, out string) []string {
	t.Helper()
	var msgs []string
	for line := range strings.Lines(out) {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, rec.Level+" "+rec.Msg)
	}
	return msgs
}
