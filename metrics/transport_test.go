package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

const clientHelp = `# HELP http_client_requests_total Number of outgoing HTTP requests, by method, host and status code ("error" when no response came).
# TYPE http_client_requests_total counter
`

// roundTripper answers every request with its status, or fails.
type roundTripper struct {
	status int
	err    error
	closed bool
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt.err != nil {
		return nil, rt.err
	}
	return &http.Response{StatusCode: rt.status, Body: http.NoBody, Request: req}, nil
}

func (rt *roundTripper) CloseIdleConnections() { rt.closed = true }

func TestTransport(t *testing.T) {
	tests := []struct {
		name   string
		base   *roundTripper
		method string
		url    string
		want   string
	}{
		{"status", &roundTripper{status: 204}, "DELETE", "http://catalog:8080/x", `{code="204",host="catalog:8080",method="DELETE"}`},
		{"error", &roundTripper{err: errors.New("connection refused")}, "GET", "http://down.example/", `{code="error",host="down.example",method="GET"}`},
		{"odd method", &roundTripper{status: 200}, "purge", "https://cdn.example/a", `{code="200",host="cdn.example",method="OTHER"}`},
		{"odd status", &roundTripper{status: 999}, "GET", "https://cdn.example/a", `{code="other",host="cdn.example",method="GET"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newHTTP(t)
			req, err := http.NewRequest(tt.method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := (&http.Client{Transport: m.transport(tt.base)}).Do(req)
			if (err != nil) != (tt.base.err != nil) {
				t.Fatalf("Do: %v", err)
			}
			if resp != nil {
				resp.Body.Close()
			}
			want := clientHelp + "http_client_requests_total" + tt.want + " 1\n"
			if err := testutil.CollectAndCompare(m.clientRequests, strings.NewReader(want)); err != nil {
				t.Error(err)
			}
			if n := testutil.CollectAndCount(m.clientDuration); n != 1 {
				t.Errorf("%d duration series, want 1", n)
			}
		})
	}
}

func TestTransportRealServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "short and stout")
	}))
	defer srv.Close()
	m, _ := newHTTP(t)
	client := &http.Client{Transport: m.transport(nil)}
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	client.CloseIdleConnections()
	host := strings.TrimPrefix(srv.URL, "http://")
	want := clientHelp + `http_client_requests_total{code="418",host="` + host + `",method="GET"} 3` + "\n"
	if err := testutil.CollectAndCompare(m.clientRequests, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(m.clientDuration)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	problems, err = testutil.CollectAndLint(m.clientRequests)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

func TestTransportHostsBounded(t *testing.T) {
	m, _ := newHTTP(t, MaxHosts(3))
	base := &roundTripper{status: 200}
	rt := m.transport(base)
	for _, host := range []string{"a", "b", "c", "d", "e", "a", "\xff\xfe"} {
		req, _ := http.NewRequest("GET", "http://x/", nil)
		req.URL.Host = host
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	want := clientHelp + `
http_client_requests_total{code="200",host="a",method="GET"} 2
http_client_requests_total{code="200",host="b",method="GET"} 1
http_client_requests_total{code="200",host="c",method="GET"} 1
http_client_requests_total{code="200",host="other",method="GET"} 3
`
	if err := testutil.CollectAndCompare(m.clientRequests, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	if !base.closed {
		t.Error("CloseIdleConnections did not reach the base transport")
	}
}
