package metrics

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/prodready/prodready/internal/testenv"
)

func TestRegistry(t *testing.T) {
	before, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(Version("v1.2.3"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{
		"go_goroutines", "go_memstats_heap_inuse_bytes", "go_gc_gogc_percent",
		"go_sched_latencies_seconds", "go_sync_mutex_wait_total_seconds_total",
		"process_cpu_seconds_total", "process_open_fds", "build_info",
	} {
		if !names[want] {
			t.Errorf("registry lacks %s", want)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	// The module path and VCS settings depend on how the test binary was
	// built; the Go version and the Version option do not.
	want := `
# HELP build_info Always 1; the labels describe the running binary.
# TYPE build_info gauge
build_info{goversion="` + runtime.Version() + `",modified="X",path="X",revision="X",revision_time="X",version="v1.2.3"} 1
`
	got := onlyStable(t, reg, "build_info")
	if err := testutil.GatherAndCompare(got, strings.NewReader(want), "build_info"); err != nil {
		t.Error(err)
	}
	after, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("the default registry went from %d to %d metric families", len(before), len(after))
	}
	for _, mf := range after {
		if mf.GetName() == "build_info" {
			t.Error("build_info is on the default registry")
		}
	}
}

// onlyStable returns a gatherer of reg's family name with the labels that
// depend on the build replaced by X.
func onlyStable(t *testing.T, reg prometheus.Gatherer, name string) prometheus.Gatherer {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			switch l.GetName() {
			case "modified", "path", "revision", "revision_time":
				x := "X"
				l.Value = &x
			}
		}
	}
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return mfs, nil })
}

func TestHandlerNegotiates(t *testing.T) {
	reg := prometheus.NewRegistry()
	mw, err := Middleware(reg)
	if err != nil {
		t.Fatal(err)
	}
	serve(mw(http.NotFoundHandler()), "GET", "/")
	tests := []struct {
		name, accept, contentType string
	}{
		{"Prometheus", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", "application/openmetrics-text"},
		{"curl", "*/*", "text/plain"},
		{"none", "", "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/metrics", nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			Handler(reg).ServeHTTP(rec, req)
			if ct := rec.Header().Get("Content-Type"); rec.Code != 200 || !strings.HasPrefix(ct, tt.contentType) {
				t.Fatalf("status %d content type %q, want %s", rec.Code, ct, tt.contentType)
			}
			if !strings.Contains(rec.Body.String(), `http_requests_total{code="404",error_type="",method="GET",route="unmatched"} 1`) {
				t.Fatalf("scrape lacks the request:\n%s", rec.Body)
			}
		})
	}
}

// TestPromtoolCheckMetrics scrapes a real server, as Prometheus would, and
// has promtool check what it serves: names, help, units and types.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Missing(t, "promtool", "apt-get install prometheus, or put promtool on PATH")
	}
	reg := NewRegistry()
	mw, err := Middleware(reg)
	if err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "item") })
	mux.Handle("GET /metrics", Handler(reg))
	srv := httptest.NewServer(mw(mux))
	defer srv.Close()
	rt, err := Transport(srv.Client().Transport, reg)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: rt}
	for _, p := range []string{"/items/1", "/items/2", "/nothing"} {
		resp, err := client.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	for _, want := range []string{"http_requests_total{", "http_client_requests_total{", "build_info{", "go_sched_latencies_seconds_bucket{"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("scrape lacks %s", want)
		}
	}

	cmd := exec.Command(promtool, "check", "metrics") // #nosec G204 -- the path comes from LookPath, the arguments are constant
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestRegistryRevision: a binary that stamps its commit with -ldflags (as
// the examples' Dockerfile does) shows it on build_info, scraped from a
// real server.
func TestRegistryRevision(t *testing.T) {
	tests := []struct {
		name string
		opts []RegistryOption
		want string
	}{
		{"stamped", []RegistryOption{Version("v1.4.2"), Revision("0123abcd")}, `revision="0123abcd"`},
		{"empty keeps Go's", []RegistryOption{Revision("")}, `revision="`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(Handler(NewRegistry(tt.opts...)))
			defer srv.Close()
			res, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			var line string
			for l := range strings.Lines(string(body)) {
				if strings.HasPrefix(l, "build_info{") {
					line = l
				}
			}
			if !strings.Contains(line, tt.want) || strings.Contains(line, `revision=""`) {
				t.Fatalf("build_info line %q, want %s", line, tt.want)
			}
		})
	}
}
