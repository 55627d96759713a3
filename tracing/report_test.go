package tracing

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"

	"github.com/prodready/prodready/internal/testenv"
)

// TestReportOncePerInterval: a kind logs its first occurrence at once, then
// nothing for reportInterval, then one line counting the repeats; each
// kind has its own window.
func TestReportOncePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out testenv.LogBuffer
		r := &reporter{logger: slog.New(slog.NewJSONHandler(&out, nil))}
		boom := errors.New("boom")
		for range 100 {
			r.report(slog.LevelWarn, msgExport, boom)
			time.Sleep(100 * time.Millisecond) // 10s in all, inside the first window
		}
		r.report(slog.LevelInfo, msgBaggage, boom) // another kind: not held back
		time.Sleep(reportInterval)
		r.report(slog.LevelWarn, msgExport, boom)
		r.report(slog.LevelWarn, msgExport, boom)

		lines := out.JSON(t)
		want := []struct {
			msg, level string
			suppressed float64
		}{{msgExport, "WARN", 0}, {msgBaggage, "INFO", 0}, {msgExport, "WARN", 99}}
		if len(lines) != len(want) {
			t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(want), out.String())
		}
		for i, w := range want {
			l := lines[i]
			s, _ := l["suppressed"].(float64)
			if l["msg"] != w.msg || l["level"] != w.level || s != w.suppressed || l["error"] != "boom" {
				t.Errorf("line %d = %v, want %s at %s with suppressed %v", i, l, w.msg, w.level, w.suppressed)
			}
		}
	})
}

func TestReportCutsLongErrors(t *testing.T) {
	var out testenv.LogBuffer
	r := &reporter{logger: slog.New(slog.NewJSONHandler(&out, nil))}
	r.report(slog.LevelInfo, msgBaggage, errors.New(strings.Repeat("é", 5000)))
	if n := len(out.String()); n > 2*maxReportedError {
		t.Errorf("line of %d bytes, want the error cut near %d", n, maxReportedError)
	}
	if !strings.Contains(out.String(), "…(cut)") {
		t.Errorf("no cut marker in %s", out.String())
	}
}

// TestBaggagePropagator: the same baggage as OTel's propagator for valid
// headers, one header or several; an invalid or oversize one is reported
// as a client's, never to the global error handler.
func TestBaggagePropagator(t *testing.T) {
	big := "k=" + strings.Repeat("v", 9000)
	tests := []struct {
		name       string
		headers    []string
		want       map[string]string
		wantReport bool
	}{
		{"one header", []string{"a=1,b=2"}, map[string]string{"a": "1", "b": "2"}, false},
		{"two headers, last wins", []string{"a=1", "a=2,b=3"}, map[string]string{"a": "2", "b": "3"}, false},
		{"an empty header among others", []string{"", "a=1"}, map[string]string{"a": "1"}, false},
		{"invalid member kept out", []string{"a=1,=x"}, map[string]string{"a": "1"}, true},
		{"oversize", []string{big}, map[string]string{}, true},
		{"oversize together", []string{big[:5000], "j=" + strings.Repeat("w", 5000)}, map[string]string{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out testenv.LogBuffer
			p := baggagePropagator{r: &reporter{logger: slog.New(slog.NewJSONHandler(&out, nil))}}
			h := propagation.HeaderCarrier{"Baggage": tt.headers}
			got := map[string]string{}
			for _, m := range baggage.FromContext(p.Extract(context.Background(), h)).Members() {
				got[m.Key()] = m.Value()
			}
			if len(got) != len(tt.want) {
				t.Errorf("baggage %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("baggage %v, want %v", got, tt.want)
				}
			}
			if reported := strings.Contains(out.String(), msgBaggage); reported != tt.wantReport {
				t.Errorf("reported %v, want %v: %s", reported, tt.wantReport, out.String())
			}
		})
	}
}
