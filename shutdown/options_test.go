package shutdown

import (
	"context"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// The signals a Manager asks for: SIGTERM, SIGINT and SIGHUP begin the
// shutdown; SIGPIPE is asked for on a channel of its own, so that a write
// to a closed stdout fails instead of ending the process; with no signals
// the process's signal handling is left alone, SIGPIPE included.
func TestSignalsAsked(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want []os.Signal
	}{
		{name: "default", want: []os.Signal{syscall.SIGTERM, os.Interrupt, syscall.SIGHUP, syscall.SIGPIPE}},
		{name: "SIGTERM only", opts: []Option{Signals(syscall.SIGTERM)}, want: []os.Signal{syscall.SIGTERM, syscall.SIGPIPE}},
		{name: "none", opts: []Option{Signals()}, want: nil},
	}
	if signal.Ignored(syscall.SIGHUP) {
		t.Skip("SIGHUP is ignored (nohup): the default leaves it out; TestProcessNohup covers that")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fake fakeOS
			m := New(append(tt.opts, fake.option(), quiet(), DrainDelay(0))...)
			if got := fake.asked(); !slices.Equal(got, tt.want) {
				t.Errorf("asked for %v, want %v", got, tt.want)
			}
			// SIGPIPE does not begin a shutdown.
			if slices.Contains(tt.want, os.Signal(syscall.SIGPIPE)) {
				fake.send(t, syscall.SIGPIPE)
				if err := m.Context().Err(); err != nil {
					t.Errorf("SIGPIPE began the shutdown: %v", err)
				}
			}
			m.Trigger(nil)
			_ = m.Wait()
		})
	}
}

// SIGHUP is handled like SIGTERM: drain delay, then the servers; a second
// one exits with 129.
func TestSIGHUP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake fakeOS
		rec := newRecorder()
		m := New(fake.option(), quiet(), rec.observe(), Signals(syscall.SIGTERM, os.Interrupt, syscall.SIGHUP), DrainDelay(2*time.Second))
		m.Serve(testServer(), newPipeNet(t))
		release := make(chan struct{})
		m.Add("stuck", func(_ context.Context) error { <-release; return nil })
		fake.send(t, syscall.SIGHUP)
		time.Sleep(3 * time.Second)
		fake.send(t, syscall.SIGHUP)
		synctest.Wait()
		if _, exits := fake.state(); !slices.Equal(exits, []int{129}) {
			t.Errorf("exits %v after a second SIGHUP, want [129]", exits)
		}
		close(release)
		_ = m.Wait()
		got := rec.got()
		want := []string{
			"0s began: shutdown: received signal hangup",
			"0s draining 2s err=false",
			"2s stopping pipe",
			"2s stopped 0s err=false",
			"3s second signal: shutdown: received signal hangup",
		}
		equalLines(t, got[:min(len(got), len(want))], want)
	})
}
