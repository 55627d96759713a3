package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/prodready/prodready/internal/testenv"
)

func passing(context.Context) error { return nil }

func failing(context.Context) error { return errors.New(`dial tcp 10.0.0.7:5432: connection refused`) }

func panicking(context.Context) error { panic("boom") }

// reg is one registration in a handler test.
type reg struct {
	kind Kind
	name string
	fn   Check
	opts []CheckOption
}

func quiet() Option { return Logger(slog.New(slog.DiscardHandler)) }

func register(c *Checker, regs []reg) {
	for _, r := range regs {
		switch r.kind {
		case Liveness:
			c.AddLiveness(r.name, r.fn, r.opts...)
		case Readiness:
			c.AddReadiness(r.name, r.fn, r.opts...)
		case Startup:
			c.AddStartup(r.name, r.fn, r.opts...)
		}
	}
}

// probe serves one request to h and returns the code and the decoded body.
func probe(t *testing.T, h http.Handler, target string) (int, body) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	var b body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, b
}

type body struct {
	Status string `json:"status"`
	Output string `json:"output"`
	Checks map[string][]struct {
		Status   string `json:"status"`
		Time     string `json:"time"`
		Duration string `json:"duration"`
		Output   string `json:"output"`
	} `json:"checks"`
}

func mounted(c *Checker) http.Handler {
	mux := http.NewServeMux()
	c.Mount(mux)
	return mux
}

func TestKindAndStatusStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Liveness.String(), "liveness"},
		{Readiness.String(), "readiness"},
		{Startup.String(), "startup"},
		{Kind(9).String(), "unknown"},
		{Pass.String(), "pass"},
		{Warn.String(), "warn"},
		{Fail.String(), "fail"},
		{Status(0).String(), "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// The zero Checker works like New(): reasons hidden, logs to
// slog.Default() (TestDefaultLogger).
func TestZeroChecker(t *testing.T) {
	defaultLogger(t)
	var c Checker
	c.AddReadiness("db", failing)
	c.AddLiveness("loop", passing)
	tests := []struct {
		target   string
		wantCode int
	}{
		{"/readyz", 503},
		{"/livez", 200},
		{"/startupz", 200},
	}
	h := mounted(&c)
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			code, b := probe(t, h, tt.target)
			if code != tt.wantCode {
				t.Errorf("code %d, want %d", code, tt.wantCode)
			}
			for name, cs := range b.Checks {
				if cs[0].Output != "" {
					t.Errorf("%s: reason %q shown by default", name, cs[0].Output)
				}
			}
		})
	}
}

// The OnEvent hook sees every run with the previous status; the logger gets
// transitions and new reasons only.
func TestOnEventAndLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs testenv.LogBuffer
		var seen []string
		c := New(
			Logger(slog.New(slog.NewJSONHandler(&logs, nil))),
			OnEvent(func(ev Event) {
				seen = append(seen, fmt.Sprintf("%s/%s %s->%s %v %v", ev.Kind, ev.Name, ev.Previous, ev.Status, ev.Duration, ev.Err))
			}),
		)
		results := []error{nil, nil, errors.New("a"), errors.New("a"), errors.New("b"), nil}
		var i int
		c.AddReadiness("db", func(context.Context) error {
			time.Sleep(time.Millisecond)
			i++
			return results[i-1]
		})
		for range results {
			probe(t, mounted(c), "/readyz")
		}
		want := []string{
			"readiness/db unknown->pass 1ms <nil>",
			"readiness/db pass->pass 1ms <nil>",
			"readiness/db pass->fail 1ms a",
			"readiness/db fail->fail 1ms a",
			"readiness/db fail->fail 1ms b",
			"readiness/db fail->pass 1ms <nil>",
		}
		if strings.Join(seen, "\n") != strings.Join(want, "\n") {
			t.Errorf("events:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
		}
		var lines []string
		for _, m := range logs.JSON(t) {
			lines = append(lines, fmt.Sprintf("%s %s %s %v", m["level"], m["status"], m["previous"], m["error"]))
		}
		wantLogs := []string{
			"INFO pass unknown <nil>",
			"WARN fail pass a",
			"WARN fail fail b",
			"INFO pass fail <nil>",
		}
		if strings.Join(lines, "\n") != strings.Join(wantLogs, "\n") {
			t.Errorf("logs:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(wantLogs, "\n"))
		}
	})
}

// Registering, replacing and probing at once: the race detector decides.
func TestRegisterWhileProbing(t *testing.T) {
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(t.Context())
	c := New(quiet())
	c.Start(ctx)
	h := mounted(c)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				name := fmt.Sprintf("c%d", i%10)
				switch w {
				case 0:
					c.AddReadiness(name, passing)
				case 1:
					c.AddReadiness(name, passing, Interval(time.Millisecond))
				case 2:
					c.AddLiveness(name, failing, Critical(false))
				default:
					c.Drain()
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 50 {
				for _, target := range []string{"/readyz", "/livez", "/readyz/c1", "/livez?exclude=c2"} {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
					if rec.Code != 200 && rec.Code != 503 && rec.Code != 404 {
						t.Errorf("%s: code %d", target, rec.Code)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := len(c.list(Readiness)); n != 10 {
		t.Errorf("%d readiness checks, want 10 (replaced, not added)", n)
	}
	cancel()
	goleak.VerifyNone(t, before)
}

// After Start's context ends no goroutine of the Checker is left.
func TestStartStops(t *testing.T) {
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(t.Context())
	c := New(quiet())
	for i := range 5 {
		c.AddReadiness(fmt.Sprint(i), func(ctx context.Context) error {
			select {
			case <-ctx.Done():
			case <-time.After(time.Millisecond):
			}
			return nil
		}, Interval(time.Millisecond))
	}
	c.Start(ctx)
	time.Sleep(20 * time.Millisecond)
	cancel()
	goleak.VerifyNone(t, before)
}

// Without Logger, with Logger(nil) and in the zero Checker, changes are
// logged to slog.Default() as it is when the Checker logs, not when it
// was made.
func TestDefaultLogger(t *testing.T) {
	tests := []struct {
		name    string
		checker func() *Checker
	}{
		{"no option", func() *Checker { return New() }},
		{"Logger(nil)", func() *Checker { return New(Logger(nil)) }},
		{"zero Checker", func() *Checker { return new(Checker) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.checker()
			c.AddReadiness("db", failing)
			logs := defaultLogger(t)
			probe(t, mounted(c), "/readyz")
			got := logs.JSON(t)
			if len(got) != 1 || got[0]["msg"] != "health check failed" || got[0]["check"] != "db" {
				t.Errorf("slog.Default() got %v, want one failure of db", got)
			}
		})
	}
}

// defaultLogger points slog.Default() at a buffer until the test ends.
func defaultLogger(t *testing.T) *testenv.LogBuffer {
	var logs testenv.LogBuffer
	old, out, flags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	t.Cleanup(func() {
		slog.SetDefault(old)
		log.SetOutput(out) // SetDefault redirected the log package
		log.SetFlags(flags)
	})
	return &logs
}
