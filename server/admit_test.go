package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prodready/prodready/internal/request"
)

// newTestAdmission is an Admission whose log goes to buf.
func newTestAdmission(t *testing.T, reg prometheus.Registerer, buf *bytes.Buffer, opts ...AdmitOption) *Admission {
	t.Helper()
	opts = append([]AdmitOption{AdmitLogger(slog.New(slog.NewTextHandler(buf, nil)))}, opts...)
	a, err := NewAdmission(reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewAdmissionBadSettings(t *testing.T) {
	tests := []struct {
		name string
		opt  AdmitOption
	}{
		{"target zero", LatencyTarget(0)},
		{"target negative", LatencyTarget(-time.Second)},
		{"target too long", LatencyTarget(time.Hour)},
		{"bounds zero", LimitBounds(0, 10)},
		{"bounds inverted", LimitBounds(10, 5)},
		{"initial zero", InitialLimit(0)},
		{"initial above max", InitialLimit(20000)},
		{"memory NaN", MemoryThreshold(math.NaN())},
		{"memory negative", MemoryThreshold(-0.1)},
		{"memory above 1", MemoryThreshold(1.5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAdmission(nil, tt.opt)
			if err == nil || a != nil {
				t.Fatalf("NewAdmission: %v, %v; want an error", a, err)
			}
			if !strings.HasPrefix(err.Error(), "server: admission: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}
}

// TestRefusedAtTheLimit: with one request in flight at a limit of one,
// the next gets 503 with Retry-After before the handler runs, and the
// shared request state records error type shed.
func TestRefusedAtTheLimit(t *testing.T) {
	var buf bytes.Buffer
	a := newTestAdmission(t, nil, &buf, LimitBounds(1, 1), InitialLimit(1))
	entered, release := make(chan struct{}), make(chan struct{})
	calls := 0
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.URL.Path == "/hold" {
			close(entered)
			<-release
		}
	}))
	var wg sync.WaitGroup
	wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/hold", nil)) })
	<-entered

	// The layers' protocol, as logging, metrics and tracing run it.
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/work", nil)
	var rec outcomeRecorder
	request.Serve(request.Logging, r.Context(), w, r, h, &rec)
	o := rec.o

	close(release)
	wg.Wait()
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Errorf("refusal: %d, Retry-After %q; want 503, 1", w.Code, w.Header().Get("Retry-After"))
	}
	if o.Status != http.StatusServiceUnavailable || o.ErrorType != request.FailShed {
		t.Errorf("outcome %d %q, want 503 %q", o.Status, o.ErrorType, request.FailShed)
	}
	if calls != 1 {
		t.Errorf("handler ran %d times, want once: the refused request must not reach it", calls)
	}
	if a.InFlight() != 0 {
		t.Errorf("in flight %d after both ended", a.InFlight())
	}
	if !strings.Contains(buf.String(), "refused_limit=1") {
		t.Errorf("log %q lacks the refusal", buf.String())
	}
}

// outcomeRecorder is a layer of the request protocol that keeps the
// Outcome, as prodready's logging, metrics and tracing record it.
type outcomeRecorder struct{ o request.Outcome }

func (*outcomeRecorder) Begin(*request.State, http.ResponseWriter, *http.Request) bool { return true }

func (rec *outcomeRecorder) Record(_ *request.State, _ *http.Request, o *request.Outcome) { rec.o = *o }

// TestExemptPaths: probes pass at a full limit and are not counted.
func TestExemptPaths(t *testing.T) {
	var buf bytes.Buffer
	a := newTestAdmission(t, nil, &buf, LimitBounds(1, 1), InitialLimit(1), Exempt("/ping"))
	p, err := a.Acquire(context.Background()) // the limit is full
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	inFlight := -1
	h := a.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { inFlight = a.InFlight() }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/ping", nil))
	if w.Code != http.StatusOK || inFlight != 1 {
		t.Errorf("exempt path: %d with %d in flight, want 200 and 1 (not counted)", w.Code, inFlight)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/livez", nil)) // no longer exempt
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("/livez with Exempt(\"/ping\"): %d, want 503", w.Code)
	}
}

// TestDefaultExempt: the probe and metrics paths pass a full limit.
func TestDefaultExempt(t *testing.T) {
	var buf bytes.Buffer
	a := newTestAdmission(t, nil, &buf, LimitBounds(1, 1), InitialLimit(1))
	p, err := a.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	h := a.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, path := range []string{"/livez", "/readyz", "/startupz", "/healthz", "/metrics"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			t.Errorf("%s at a full limit: %d, want 200", path, w.Code)
		}
	}
}

// TestExpiredBeforeAdmission: a request whose context ended while it
// waited is dropped with ReasonExpired, not counted against the limit.
func TestExpiredBeforeAdmission(t *testing.T) {
	var buf bytes.Buffer
	reg := prometheus.NewRegistry()
	a := newTestAdmission(t, reg, &buf)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := a.Acquire(ctx)
	var ref *Refusal
	if !errors.As(err, &ref) || ref.Reason != ReasonExpired || !errors.Is(err, ErrRefused) {
		t.Fatalf("Acquire on an ended context: %v, want a Refusal for expired", err)
	}
	if got := value(t, reg, "server_admission_refusals_total", "expired"); got != 1 {
		t.Errorf("refusals{reason=expired} %v, want 1", got)
	}
}

// value returns the value of the named series, with the reason label
// when reason is not empty.
func value(t *testing.T, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := reason == ""
			for _, l := range m.GetLabel() {
				match = match || (l.GetName() == "reason" && l.GetValue() == reason)
			}
			if match {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{reason=%q}", name, reason)
	return 0
}

// TestMetrics: the limit, in-flight and refusals by reason are on the
// registry; a second Admission on it is an error.
func TestMetrics(t *testing.T) {
	var buf bytes.Buffer
	reg := prometheus.NewRegistry()
	a := newTestAdmission(t, reg, &buf, LimitBounds(2, 2), InitialLimit(2))
	p1, _ := a.Acquire(context.Background())
	p2, _ := a.Acquire(context.Background())
	if _, err := a.Acquire(context.Background()); err == nil {
		t.Fatal("third admitted at a limit of 2")
	}
	want := `
# HELP server_admission_in_flight Requests admitted and not yet done, those waiting for a CPU included.
# TYPE server_admission_in_flight gauge
server_admission_in_flight 2
# HELP server_admission_limit The adaptive limit of requests in flight: more are refused.
# TYPE server_admission_limit gauge
server_admission_limit 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "server_admission_in_flight", "server_admission_limit"); err != nil {
		t.Error(err)
	}
	if got := value(t, reg, "server_admission_refusals_total", "limit"); got != 1 {
		t.Errorf("refusals{reason=limit} %v, want 1", got)
	}
	p1.Release()
	p2.Release()
	Permit{}.Release() // the zero Permit: nothing
	if a.InFlight() != 0 {
		t.Errorf("in flight %d after releasing", a.InFlight())
	}
	if _, err := NewAdmission(reg); err == nil {
		t.Error("a second Admission on the same registry: no error")
	}
}

// TestRefusalLogRateLimited: a burst of refusals over 12 s is three log
// lines, at 0 s, 5 s and 10 s, each with the count since the last.
func TestRefusalLogRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		a := newTestAdmission(t, nil, &buf, LimitBounds(1, 1), InitialLimit(1))
		p, _ := a.Acquire(context.Background())
		for range 120 { // 10 a second
			if _, err := a.Acquire(context.Background()); err == nil {
				t.Fatal("admitted at a full limit")
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.Release()
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 3 {
			t.Fatalf("%d log lines for 12 s of refusals, want 3:\n%s", len(lines), buf.String())
		}
		for i, want := range []string{"refused_limit=1 ", "refused_limit=50 ", "refused_limit=50 "} {
			if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "level=WARN") {
				t.Errorf("line %d %q, want %q at WARN", i, lines[i], want)
			}
		}
	})
}

// TestMemoryRefusal: with the live heap over the threshold of
// GOMEMLIMIT, requests are refused for memory; the heap is read at most
// once per 5 ms whatever the rate of requests.
func TestMemoryRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		a := newTestAdmission(t, nil, &buf, MemoryThreshold(0.5))
		var live, limit uint64 = 40, 100
		reads := 0
		a.rt.read = func() reading {
			reads++
			return reading{live: live, limit: limit, memory: true}
		}
		for range 100 { // 1 ms apart: 20 reads at most
			p, err := a.Acquire(context.Background())
			if err != nil {
				t.Fatalf("refused below the threshold: %v", err)
			}
			p.Release()
			time.Sleep(time.Millisecond)
		}
		if reads != 20 {
			t.Errorf("%d heap reads in 100 ms, want 20 (one per 5 ms)", reads)
		}
		live = 60
		time.Sleep(sampleInterval)
		_, err := a.Acquire(context.Background())
		var ref *Refusal
		if !errors.As(err, &ref) || ref.Reason != ReasonMemory {
			t.Fatalf("Acquire over the threshold: %v, want a memory refusal", err)
		}
		limit = math.MaxInt64 // no GOMEMLIMIT
		time.Sleep(sampleInterval)
		if _, err := a.Acquire(context.Background()); err != nil {
			t.Errorf("refused without a GOMEMLIMIT: %v", err)
		}
	})
}

// TestMemoryRuntime: the runtime reports what the check reads.
func TestMemoryRuntime(t *testing.T) {
	runtime.GC() // the live heap is known from the first cycle on
	var m runtimeSampler
	m.init(0.9)
	r := m.read()
	if !r.memory || r.live == 0 || r.limit == 0 || r.sched == nil || len(r.sched.Counts) == 0 {
		t.Errorf("runtime/metrics: live heap %d, GOMEMLIMIT %d (reported %v), scheduling latencies %v",
			r.live, r.limit, r.memory, r.sched)
	}
}

// TestAcquireAllocs: admitting, releasing and refusing allocate nothing.
func TestAcquireAllocs(t *testing.T) {
	var buf bytes.Buffer
	a := newTestAdmission(t, nil, &buf, LimitBounds(1, 1), InitialLimit(1), MemoryThreshold(0))
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() {
		p, _ := a.Acquire(ctx)
		_, _ = a.Acquire(ctx) // refused
		p.Release()
	}); n != 0 {
		t.Errorf("%v allocations per admit + refusal + release, want 0", n)
	}
}

// BenchmarkAdmission is the per-request cost of the middleware at low
// load: one request at a time, admitted, a handler that does nothing.
func BenchmarkAdmission(b *testing.B) {
	a, err := NewAdmission(nil, AdmitLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	h := a.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/products", nil)
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// BenchmarkAcquireRelease is the hook other transports call, per request.
func BenchmarkAcquireRelease(b *testing.B) {
	a, err := NewAdmission(nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		p, err := a.Acquire(ctx)
		if err == nil {
			p.Release()
		}
	}
}
