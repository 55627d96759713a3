package logging

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/prodready/prodready/internal/request"
)

// fieldSets are the field sets the parity tests run under.
var fieldSets = []FieldSet{OpenTelemetry(), ECS(), GoogleCloud("my-project"), GoogleCloud("")}

// accessCase is one request's access line, everything that goes into it.
type accessCase struct {
	method, route, path, remote, userAgent, id, errorType string
	status                                                int
	bytes                                                 int64
	duration                                              time.Duration
	end                                                   time.Time
	span                                                  trace.SpanContext
	panicked                                              any
}

// lines writes c's access line twice, through the fast path and through
// zap, with loggers made alike by New (the field set fs, a logger name,
// with and without a Buffer, the path on or off), and returns both.
func lines(t testing.TB, fs FieldSet, buffered, path bool, c accessCase) (fast, viaZap string) {
	t.Helper()
	out := func(via bool) string {
		var buf bytes.Buffer
		cfg := Config{Service: "svc", Version: "1.2.3", Fields: fs, Output: &buf}
		if buffered {
			cfg.Buffer = &Buffer{}
		}
		logger, _, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := newMiddleware(logger.Named("access"), []Option{Path(path)})
		if m.line == nil {
			t.Fatal("no fast access line for a logger made by New")
		}
		if via {
			m.line = nil
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Method, r.URL.Path, r.RemoteAddr = c.method, c.path, c.remote
		r.Header.Set("User-Agent", c.userAgent)
		if c.span.IsValid() {
			r = r.WithContext(trace.ContextWithSpanContext(r.Context(), c.span))
		}
		st := request.New(r.Context(), httptest.NewRecorder())
		rl := &reqLog{m: m}
		rl.hdr[0] = c.id
		st.Logging = rl
		if c.panicked != nil {
			st.Recover(c.panicked)
		}
		o := &request.Outcome{Route: c.route, Status: c.status, ErrorType: c.errorType,
			Bytes: c.bytes, End: c.end, Duration: c.duration}
		m.logAccess(st, r, rl, o)
		if err := logger.Sync(); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		return buf.String()
	}
	return out(false), out(true)
}

var traced = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID:    trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c},
	SpanID:     trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
	TraceFlags: trace.FlagsSampled,
})

// stackValue is a panic's stack as a JSON string.
var stackValue = regexp.MustCompile(`"goroutine (\\.|[^"\\])*"`)

// TestAccessLineParity: the access line written without zap's fields is
// byte for byte what zap writes for the same request, in every field
// set, for each level, with the values a client controls at their worst.
func TestAccessLineParity(t *testing.T) {
	end := time.Date(2026, 12, 7, 5, 4, 3, 120000000, time.UTC)
	base := accessCase{method: "GET", route: "/products/{id}", path: "/products/p1", remote: "127.0.0.1:5555",
		userAgent: "curl/8.5", id: "0191b2c3-aaaa-7bbb-8ccc-0123456789ab", status: 200, bytes: 61,
		duration: 1234567 * time.Nanosecond, end: end}
	tests := []struct {
		name string
		edit func(*accessCase)
	}{
		{"plain", func(*accessCase) {}},
		{"traced, sampled", func(c *accessCase) { c.span = traced }},
		{"traced, not sampled", func(c *accessCase) { c.span = traced.WithTraceFlags(0) }},
		{"warn: client gone", func(c *accessCase) { c.errorType, c.status = request.FailClientGone, 499 }},
		{"error: 503", func(c *accessCase) { c.errorType, c.status = "503", 503 }},
		{"escapes", func(c *accessCase) {
			c.path = "/a\"b\\c\n\r\t\x00\x1f\x7f<>&\u2028é\xff\xfe"
			c.userAgent = "\"quoted\" \\ agent\x01"
			c.method = "BR\x00EW"
		}},
		{"end without nanoseconds", func(c *accessCase) { c.end = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }},
		{"end in another zone", func(c *accessCase) { c.end = end.In(time.FixedZone("x", 5*3600+1800)) }},
		{"end past 9999", func(c *accessCase) { c.end = time.Date(12026, 1, 2, 3, 4, 5, 6, time.UTC) }},
		{"zero duration, zero bytes", func(c *accessCase) { c.duration, c.bytes = 0, 0 }},
		{"long duration", func(c *accessCase) { c.duration = 90*time.Second + 1 }},
		{"panic: through zap", func(c *accessCase) { c.panicked, c.status, c.errorType = "boom", 500, request.FailPanic }},
	}
	for _, fs := range fieldSets {
		for _, tt := range tests {
			for _, buffered := range []bool{false, true} {
				for _, path := range []bool{true, false} {
					c := base
					tt.edit(&c)
					fast, viaZap := lines(t, fs, buffered, path, c)
					// A panic's stack differs between the two runs in its
					// addresses and frames.
					fast, viaZap = stackValue.ReplaceAllString(fast, `"STACK"`), stackValue.ReplaceAllString(viaZap, `"STACK"`)
					if fast != viaZap || fast == "" {
						t.Errorf("%s, %s, buffered %v, path %v:\nfast %s\nzap  %s", fs, tt.name, buffered, path, fast, viaZap)
					}
				}
			}
		}
	}
}

// FuzzAccessLineParity: whatever a client sends, the fast access line is
// zap's, byte for byte.
func FuzzAccessLineParity(f *testing.F) {
	f.Add("GET", "/products/{id}", "/products/p1", "127.0.0.1:1", "curl", "id-1", "", 200, int64(61), int64(1234567), int64(1765083843120000000), uint8(0), true, true)
	f.Add("P\x00ST", "\xff", "/\"\\\n", "[::1]:2", "\u2028\x7f", "", "panic", 500, int64(-1), int64(0), int64(0), uint8(1), false, true)
	f.Add("", "", "", "", "", "", "client_gone", 499, int64(0), int64(-5), int64(-1), uint8(2), true, false)
	f.Fuzz(func(t *testing.T, method, route, path, remote, ua, id, errorType string, status int, n, dur, end int64, set uint8, sampled, hasSpan bool) {
		c := accessCase{method: method, route: route, path: path, remote: remote, userAgent: ua, id: id,
			errorType: errorType, status: status, bytes: n, duration: time.Duration(dur), end: time.Unix(0, end)}
		if hasSpan {
			c.span = traced
			if !sampled {
				c.span = traced.WithTraceFlags(0)
			}
		}
		fs := fieldSets[int(set)%len(fieldSets)]
		if fast, viaZap := lines(t, fs, false, true, c); fast != viaZap {
			t.Errorf("%s:\nfast %q\nzap  %q", fs, fast, viaZap)
		}
	})
}

// FuzzUTCTime: appendUTCTime is time.RFC3339Nano in UTC, for every time.
func FuzzUTCTime(f *testing.F) {
	f.Add(int64(0), int64(0))
	f.Add(int64(1765083843), int64(120000000))
	f.Add(int64(-62135596801), int64(1))         // before year 1
	f.Add(int64(253402300800), int64(999999999)) // year 10000
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		tm := time.Unix(sec, nsec)
		if got, want := string(appendUTCTime(nil, tm)), tm.UTC().Format(time.RFC3339Nano); got != want {
			t.Errorf("%d.%09d: %s, want %s", sec, nsec, got, want)
		}
	})
}

// TestAccessLineOnlyForNew: a logger New did not make, or one wrapped by
// Sampling or With, writes through zap.
func TestAccessLineOnlyForNew(t *testing.T) {
	sampled, _, err := New(Config{Output: &bytes.Buffer{}, Sampling: &Sampling{}})
	if err != nil {
		t.Fatal(err)
	}
	plain, _, err := New(Config{Output: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]*zap.Logger{
		"zap.NewExample": zap.NewExample(),
		"Sampling":       sampled,
		"With":           plain.With(zap.String("k", "v")),
	} {
		if m := newMiddleware(l, nil); m.line != nil {
			t.Errorf("%s: the fast access line, want zap", name)
		}
	}
}
