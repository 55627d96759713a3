package shutdown

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

// Each step is one log line, at a level that matches; a panic's line
// carries the stack.
func TestLogLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var fake fakeOS
		var buf testenv.LogBuffer
		m := New(fake.option(), Logger(slog.New(slog.NewJSONHandler(&buf, nil))), DrainDelay(time.Second), Timeout(5*time.Second))
		pn := newPipeNet(t)
		m.Serve(testServer(), pn)
		release := make(chan struct{})
		m.Add("stuck", func(context.Context) error { <-release; return nil })
		m.Add("panics", func(context.Context) error { panic("kaboom") })
		m.Add("ok", func(context.Context) error { return nil })
		fake.send(t, syscall.SIGTERM)
		time.Sleep(2 * time.Second)
		fake.send(t, syscall.SIGTERM)
		_ = m.Wait()
		close(release)

		var got []string
		var stack string
		for _, rec := range buf.JSON(t) {
			got = append(got, fmt.Sprintf("%v %v %v", rec["level"], rec["msg"], str(rec["hook"])))
			if rec["hook"] == "panics" {
				stack = str(rec["stack"])
			}
		}
		equalLines(t, got, []string{
			"INFO shutdown began ",
			"INFO draining: readiness is red, servers still serve ",
			"INFO stopping servers ",
			"INFO servers stopped ",
			"INFO hook done ok",
			"ERROR hook failed panics",
			"WARN second signal: exiting now ",
			"ERROR hook still running when its time ran out; abandoned stuck",
			"ERROR shutdown done ",
		})
		if !strings.Contains(stack, "event_test.go") {
			t.Errorf("the panic's log line has no stack pointing at the hook: %q", stack)
		}
		if _, exits := fake.state(); len(exits) != 1 || exits[0] != 143 {
			t.Errorf("exits %v, want [143]", exits)
		}
	})
}

func TestStepString(t *testing.T) {
	tests := []struct {
		kind Step
		want string
	}{
		{Began, "began"},
		{HookStuck, "hook stuck"},
		{Finished, "finished"},
		{0, "Step(0)"},
		{200, "Step(200)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.kind.String(); got != tt.want {
				t.Errorf("Kind(%d).String() = %q, want %q", tt.kind, got, tt.want)
			}
		})
	}
}

// str is a decoded JSON value as text, "" for none.
func str(v any) string {
	s, _ := v.(string)
	return s
}

// The logger rule: without Logger, with Logger(nil) and in the zero
// Manager, the steps go to slog.Default() as it is when they are logged; a
// discarding logger silences them. Not parallel: it replaces the process's
// default logger.
func TestLoggerDefault(t *testing.T) {
	tests := []struct {
		name    string
		manager func(opts ...Option) *Manager
		opts    []Option
		want    []string
	}{
		{name: "no option", manager: New, want: []string{"shutdown began", "hook done", "shutdown done"}},
		{name: "nil", manager: New, opts: []Option{Logger(nil)}, want: []string{"shutdown began", "hook done", "shutdown done"}},
		// The zero Manager has the defaults: a 5s drain, the real signals.
		{name: "zero Manager", manager: func(...Option) *Manager { return &Manager{} },
			want: []string{"shutdown began", "draining: readiness is red, servers still serve", "hook done", "shutdown done"}},
		{name: "discard", manager: New, opts: []Option{Logger(slog.New(slog.DiscardHandler))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slog.Default()
			defer slog.SetDefault(before)
			var buf testenv.LogBuffer
			synctest.Test(t, func(t *testing.T) {
				var fake fakeOS
				m := tt.manager(append(tt.opts, fake.option(), DrainDelay(0))...)
				// Set after the Manager was made: it is looked up when logging.
				slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
				m.Add("db", func(context.Context) error { return nil })
				m.Trigger(nil)
				_ = m.Wait()
			})
			var got []string
			for _, rec := range buf.JSON(t) {
				got = append(got, fmt.Sprint(rec["msg"]))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("slog.Default() got %q, want %q", got, tt.want)
			}
		})
	}
}
