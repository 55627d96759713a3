package secrets

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

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
				var buf bytes.Buffer
				src := &failingSource{}
				src.failing.Store(true)
				f, _, _ := watchFake(t, "s3cr3t", withSource(src.source), PollInterval(tt.poll),
					Logger(slog.New(slog.NewJSONHandler(&buf, nil))))
				time.Sleep(3500 * time.Millisecond) // three polls, still failing
				src.failing.Store(false)
				time.Sleep(2 * time.Second)
				synctest.Wait()
				_ = f.Close()

				msgs := logMessages(t, buf.String())
				if !slices.Equal(msgs, tt.want) {
					t.Errorf("logged %q, want %q", msgs, tt.want)
				}
			})
		})
	}
}
