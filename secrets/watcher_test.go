package secrets

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

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
		var buf testenv.LogBuffer
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

		msgs := logMessages(t, &buf)
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

// logMessages returns "LEVEL msg" for each JSON line slog wrote to buf.
func logMessages(t *testing.T, buf *testenv.LogBuffer) []string {
	t.Helper()
	var msgs []string
	for _, rec := range buf.JSON(t) {
		msgs = append(msgs, fmt.Sprint(rec["level"], " ", rec["msg"]))
	}
	return msgs
}

// failingSource is an event source whose watches cannot be armed while
// failing is set, as when inotify's watch limit is reached.
type failingSource struct{ failing atomic.Bool }

func (s *failingSource) source(func()) notifier { return failingNotifier{s} }

type failingNotifier struct{ s *failingSource }

func (n failingNotifier) ensure([]string) error {
	if n.s.failing.Load() {
		return errors.Join(syscall.ENOSPC, errNoWatcher)
	}
	return nil
}

func (failingNotifier) release() {}

// A watch that cannot be armed is said once, with what keeps the value
// current instead; so is its recovery. The polls in between say nothing.
func TestWatchFailureLogged(t *testing.T) {
	tests := []struct {
		name string
		poll time.Duration
		want []string
	}{
		{name: "polling", poll: time.Second, want: []string{
			"WARN secret watch failed; changes are seen by polling only",
			"INFO secret loaded",
			"INFO secret watch armed again",
		}},
		{name: "polling off", poll: 0, want: []string{
			"WARN secret watch failed and polling is off; changes will not be seen",
			"INFO secret loaded",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var buf testenv.LogBuffer
				src := &failingSource{}
				src.failing.Store(true)
				f, _, _ := watchFake(t, "s3cr3t", withSource(src.source), PollInterval(tt.poll),
					Logger(slog.New(slog.NewJSONHandler(&buf, nil))))
				time.Sleep(3500 * time.Millisecond) // three polls, still failing
				src.failing.Store(false)
				time.Sleep(2 * time.Second)
				synctest.Wait()
				_ = f.Close()

				msgs := logMessages(t, &buf)
				if !slices.Equal(msgs, tt.want) {
					t.Errorf("logged %q, want %q", msgs, tt.want)
				}
			})
		})
	}
}

// BenchmarkRotationLatency measures, with the default debounce and the
// real fsnotify watcher, the time from a rename over the file completing to
// the new value reaching a subscriber (which runs just after Value returns
// it). The latency is measured here, not asserted in a test: a loaded
// 2-core machine under -race can miss any wall-clock bound, while the
// exact delay (the debounce) is asserted in synctest by TestDebounce.
// Run it for 200 rotations:
//
//	go test -run '^$' -bench RotationLatency -benchtime 200x ./secrets
func BenchmarkRotationLatency(b *testing.B) {
	r := newRotator(b)
	var lat []time.Duration
	for b.Loop() {
		lat = append(lat, r.rotate())
	}
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
}

// Rotations through the real watcher arrive, each of them, in the order
// they were written. How fast is BenchmarkRotationLatency's business.
func TestRotationsArriveInOrder(t *testing.T) {
	t.Parallel()
	r := newRotator(t)
	var want []string
	for range 5 {
		r.rotate()
		want = append(want, "v"+strconv.Itoa(r.n))
	}
	if got := r.values(); !slices.Equal(got, want) {
		t.Errorf("subscriber saw %q, want %q", got, want)
	}
}

// rotator renames new values over a watched file and times their arrival
// at a subscriber.
type rotator struct {
	tb        testing.TB
	path      string
	n         int
	published chan arrival
	mu        sync.Mutex
	seen      []string
}

type arrival struct {
	value string
	at    time.Time
}

func newRotator(tb testing.TB) *rotator {
	r := &rotator{tb: tb, path: filepath.Join(tb.TempDir(), "secret"), published: make(chan arrival, 16)}
	writeFile(tb, r.path, "v0")
	f, err := Watch(tb.Context(), r.path, Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = f.Close() })
	f.Subscribe(func(s Secret) {
		r.mu.Lock()
		r.seen = append(r.seen, s.Reveal())
		r.mu.Unlock()
		r.published <- arrival{s.Reveal(), time.Now()}
	})
	return r
}

// rotate writes the next value and returns how long it took to arrive. The
// 10s bound only ends a broken run (a lost event, a stuck loop) with a
// message; it is not a latency requirement.
func (r *rotator) rotate() time.Duration {
	r.tb.Helper()
	r.n++
	want := "v" + strconv.Itoa(r.n)
	writeFile(r.tb, r.path, want) // returns when the rename is done
	renamed := time.Now()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case a := <-r.published:
			if a.value == want {
				return a.at.Sub(renamed)
			}
		case <-deadline:
			r.tb.Fatalf("rotation to %s never arrived (seen %q)", want, r.values())
			return 0
		}
	}
}

func (r *rotator) values() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(min(i, len(s))-1, 0)]
}

// The logger rule: without Logger, and with Logger(nil), a watch logs to
// slog.Default() as it is when the line is logged; a discarding logger
// silences it. Not parallel: it replaces the process's default logger.
func TestLoggerDefault(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want []string
	}{
		{name: "no option", want: []string{"INFO secret loaded", "INFO secret reloaded"}},
		{name: "nil", opts: []Option{Logger(nil)}, want: []string{"INFO secret loaded", "INFO secret reloaded"}},
		{name: "discard", opts: []Option{Logger(slog.New(slog.DiscardHandler))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slog.Default()
			defer slog.SetDefault(before)
			var first, later testenv.LogBuffer
			slog.SetDefault(slog.New(slog.NewJSONHandler(&first, nil)))
			synctest.Test(t, func(t *testing.T) {
				f, src, path := watchFake(t, "v0", tt.opts...)
				slog.SetDefault(slog.New(slog.NewJSONHandler(&later, nil)))
				writeFile(t, path, "v1")
				src.event()
				time.Sleep(time.Second)
				_ = f.Close()
			})
			got := append(logMessages(t, &first), logMessages(t, &later)...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("logged %q, want %q", got, tt.want)
			}
			if n := len(logMessages(t, &later)); len(tt.want) > 0 && n != 1 {
				t.Errorf("%d lines in the default logger set after Watch, want 1: it is looked up when logging", n)
			}
		})
	}
}

// Every message says what is true: before a first value (WaitForFile) there
// is no last good value to keep, only a file to wait for or a file that
// cannot be used; once there is one, a failure keeps it. A failure at start
// without WaitForFile is Watch's error, not a log line as well.
func TestLogMessages(t *testing.T) {
	remove := func(t *testing.T, p string) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		initial string // "": no file at start
		wait    bool
		steps   []func(t *testing.T, path string)
		want    []string
	}{
		{
			name: "missing at start, then written",
			wait: true,
			steps: []func(*testing.T, string){
				func(t *testing.T, p string) { writeFile(t, p, "v1") },
			},
			want: []string{
				"INFO secret not loaded yet: waiting for the file to appear",
				"INFO secret loaded",
			},
		},
		{
			name:    "empty at start, then removed, then written",
			initial: "\n",
			wait:    true,
			steps: []func(*testing.T, string){
				remove,
				func(t *testing.T, p string) { writeFile(t, p, "v1") },
			},
			want: []string{
				"WARN secret not loaded yet: the file cannot be used; waiting for a good one",
				"INFO secret not loaded yet: waiting for the file to appear",
				"INFO secret loaded",
			},
		},
		{
			name:    "loaded, then removed, then back unchanged",
			initial: "v0",
			steps: []func(*testing.T, string){
				remove,
				func(t *testing.T, p string) { writeFile(t, p, "v0") },
			},
			want: []string{
				"INFO secret loaded",
				"WARN secret reload failed; keeping the last good value",
				"INFO secret readable again",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var buf testenv.LogBuffer
				opts := []Option{WaitForFile(tt.wait), TrimNewline(true), Logger(slog.New(slog.NewJSONHandler(&buf, nil)))}
				f, src, path := watchFake(t, tt.initial, opts...)
				for _, step := range tt.steps {
					step(t, path)
					src.event()
					time.Sleep(time.Second)
				}
				synctest.Wait()
				_ = f.Close()
				if got := logMessages(t, &buf); !slices.Equal(got, tt.want) {
					t.Errorf("logged %q, want %q", got, tt.want)
				}
			})
		})
	}

	t.Run("missing at start without WaitForFile", func(t *testing.T) {
		var buf testenv.LogBuffer
		src := &fakeSource{}
		_, err := Watch(t.Context(), filepath.Join(t.TempDir(), "missing"), withSource(src.source),
			Logger(slog.New(slog.NewJSONHandler(&buf, nil))))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Watch = %v, want not exist", err)
		}
		if got := buf.String(); got != "" {
			t.Errorf("logged %s; the error is Watch's to return, not to log too", got)
		}
	})
}
