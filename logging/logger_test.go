package logging_test

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/logging"
)

// newLogger returns a logger from New writing to a fresh buffer.
func newLogger(t *testing.T, cfg logging.Config) (*zap.Logger, zap.AtomicLevel, *testenv.LogBuffer) {
	t.Helper()
	s := new(testenv.LogBuffer)
	cfg.Output = s
	l, lvl, err := logging.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, lvl, s
}

func TestNewLineShape(t *testing.T) {
	l, _, out := newLogger(t, logging.Config{Service: "catalog", Version: "1.2.3"})
	l.Info("hello", zap.Int("n", 1))
	l.Error("broken")
	lines := out.JSON(t)
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	for _, m := range lines {
		for _, k := range []string{"time", "level", "msg", "caller", "service", "version"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %v has no %q", m, k)
			}
		}
		ts, _ := m["time"].(string)
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") {
			t.Errorf("time %q is not RFC 3339 UTC: %v", ts, err)
		}
		if m["service"] != "catalog" || m["version"] != "1.2.3" {
			t.Errorf("service/version = %v/%v", m["service"], m["version"])
		}
		if c, _ := m["caller"].(string); !strings.HasPrefix(c, "logging/logger_test.go:") {
			t.Errorf("caller %q does not point at this test", c)
		}
	}
	if _, ok := lines[0]["stacktrace"]; ok {
		t.Error("info line has a stack trace")
	}
	if st, _ := lines[1]["stacktrace"].(string); !strings.Contains(st, "TestNewLineShape") {
		t.Errorf("error line's stack trace %q does not name the test", st)
	}
}

func TestNewLevel(t *testing.T) {
	tests := []struct {
		name    string
		level   string
		env     string
		want    string
		wantErr bool
	}{
		{"default info", "", "", "info", false},
		{"from config", "debug", "", "debug", false},
		{"config wins over env", "error", "debug", "error", false},
		{"from LOG_LEVEL", "", "warn", "warn", false},
		{"upper case", "DEBUG", "", "debug", false},
		{"warning alias", "warning", "", "warn", false},
		{"invalid in config", "verbose", "", "", true},
		{"invalid in env", "", "loud", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LOG_LEVEL", tt.env)
			_, lvl, err := logging.New(logging.Config{Level: tt.level, Output: io.Discard})
			if tt.wantErr {
				if !errors.Is(err, logging.ErrLevel) || !strings.Contains(err.Error(), "debug, info, warn, error") {
					t.Fatalf("err = %v, want ErrLevel naming the valid levels", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := lvl.String(); got != tt.want {
				t.Fatalf("level %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSamplingCountsDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &logging.Sampling{First: 3, Thereafter: 5}
		l, _, out := newLogger(t, logging.Config{Sampling: s})
		for range 20 {
			l.Info("repeated")
		}
		l.Info("other") // a different message has its own budget
		// The fake clock stands still, so all of the above share one tick;
		// after it the budget is back.
		time.Sleep(time.Second)
		l.Info("repeated")
		// Of 20: lines 1-3 kept, then every 5th of the rest (8th, 13th,
		// 18th): 6 kept, 14 dropped.
		if got := s.Dropped(); got != 14 {
			t.Fatalf("Dropped() = %d, want 14", got)
		}
		if n := len(out.JSON(t)); n != 8 {
			t.Fatalf("%d lines written, want 8", n)
		}
	})
}

func TestSamplingOffByDefault(t *testing.T) {
	l, _, out := newLogger(t, logging.Config{})
	for range 500 {
		l.Info("repeated")
	}
	if n := len(out.JSON(t)); n != 500 {
		t.Fatalf("%d lines, want all 500", n)
	}
}

func TestFieldSets(t *testing.T) {
	tests := []struct {
		name   string
		fields logging.FieldSet
		want   map[string]any
		absent []string
	}{
		{
			name:   "opentelemetry is the zero value",
			fields: logging.FieldSet{},
			want:   map[string]any{"level": "error", "msg": "m", "service": "s", "version": "v"},
			absent: []string{"severity", "message"},
		},
		{
			name:   "google cloud",
			fields: logging.GoogleCloud("proj"),
			want:   map[string]any{"severity": "ERROR", "message": "m", "service": "s"},
			absent: []string{"level", "msg", "stacktrace"},
		},
		{
			name:   "ecs",
			fields: logging.ECS(),
			want: map[string]any{"log.level": "error", "message": "m", "service.name": "s",
				"service.version": "v", "ecs.version": "8.11.0"},
			absent: []string{"level", "msg", "time", "service"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, out := newLogger(t, logging.Config{Service: "s", Version: "v", Fields: tt.fields})
			l.Error("m")
			m := out.JSON(t)[0]
			for k, v := range tt.want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v (line %v)", k, m[k], v, m)
				}
			}
			for _, k := range tt.absent {
				if _, ok := m[k]; ok {
					t.Errorf("line has %q: %v", k, m)
				}
			}
		})
	}
}

func TestSyncOnStdoutPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	l, _, err := logging.New(logging.Config{Output: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync on a pipe: %v", err)
	}
}
