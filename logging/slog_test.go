package logging_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/slogtest"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/logging"
)

// TestSlogHandlerConformance runs the standard library's handler test
// suite: groups, empty attributes, LogValuer resolution, zero times.
func TestSlogHandlerConformance(t *testing.T) {
	var out *testenv.LogBuffer
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		l, _, s := newLogger(t, logging.Config{Level: "debug"})
		out = s
		return logging.Slog(l).Handler()
	}, func(t *testing.T) map[string]any {
		lines := out.JSON(t)
		if len(lines) != 1 {
			t.Fatalf("%d lines, want 1", len(lines))
		}
		// slogtest compares integers as int64; JSON decodes them as float64.
		return normalise(lines[0])
	})
}

func normalise(m map[string]any) map[string]any {
	for k, v := range m {
		switch v := v.(type) {
		case map[string]any:
			m[k] = normalise(v)
		case float64:
			if n := int64(v); float64(n) == v {
				m[k] = n
			}
		}
	}
	return m
}

func TestSlogCarriesRequestIDs(t *testing.T) {
	l, _, out := newLogger(t, logging.Config{Service: "orders"})
	sl := logging.Slog(l).WithGroup("db").With("table", "orders")
	tr := newTracer(t)
	var sc trace.SpanContext
	h := spanAround(tr, logging.Middleware(l)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc = trace.SpanContextFromContext(r.Context())
		sl.InfoContext(r.Context(), "query", "rows", 3)
		sl.ErrorContext(r.Context(), "failed", "err", errors.New("timeout"))
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	var got []map[string]any
	for _, m := range out.JSON(t) {
		if m["msg"] != "request" {
			got = append(got, m)
		}
	}
	if len(got) != 2 {
		t.Fatalf("%d slog lines, want 2", len(got))
	}
	for _, m := range got {
		if m["correlation_id"] != rec.Header().Get("X-Correlation-ID") || m["trace_id"] != sc.TraceID().String() ||
			m["span_id"] != sc.SpanID().String() || m["service"] != "orders" {
			t.Fatalf("line %v lacks the request's IDs at the top level", m)
		}
		db, _ := m["db"].(map[string]any)
		if db["table"] != "orders" {
			t.Fatalf("group db = %v", m["db"])
		}
		if c, _ := m["caller"].(string); !strings.HasPrefix(c, "logging/slog_test.go:") {
			t.Fatalf("caller %q does not point at the slog call", c)
		}
	}
	if st, _ := got[1]["stacktrace"].(string); !strings.Contains(st, "slog_test.go") || strings.Contains(st, "log/slog.(*Logger)") {
		t.Fatalf("error line's stack should start at the caller: %q", st)
	}
}

func TestSlogLevels(t *testing.T) {
	tests := []struct {
		name  string
		level slog.Level
		want  string
	}{
		{"debug", slog.LevelDebug, "debug"},
		{"info", slog.LevelInfo, "info"},
		{"warn", slog.LevelWarn, "warn"},
		{"error", slog.LevelError, "error"},
		{"between info and warn", slog.LevelInfo + 2, "info"},
		{"above error", slog.LevelError + 4, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, out := newLogger(t, logging.Config{Level: "debug"})
			logging.Slog(l).Log(context.Background(), tt.level, "m", "d", time.Second)
			m := out.JSON(t)[0]
			if m["level"] != tt.want {
				t.Fatalf("level %v, want %s", m["level"], tt.want)
			}
		})
	}
}

func TestSlogRespectsLevel(t *testing.T) {
	l, lvl, out := newLogger(t, logging.Config{Level: "warn"})
	sl := logging.Slog(l)
	if sl.Enabled(context.Background(), slog.LevelInfo) {
		t.Fatal("info enabled at warn level")
	}
	sl.Info("dropped")
	lvl.SetLevel(-1) // debug, through the same AtomicLevel
	sl.Debug("kept")
	if lines := out.JSON(t); len(lines) != 1 || lines[0]["msg"] != "kept" {
		t.Fatalf("lines %v", lines)
	}
}
