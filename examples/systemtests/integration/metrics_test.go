//go:build unix

package integration_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"testing"

	"github.com/prodready/prodready/internal/testenv"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

var routeLabel = regexp.MustCompile(`(?m)^http_requests_total\{[^}]*route="([^"]*)"`)

// TestMetrics: after 200 requests for 200 different product IDs the route
// label still has one value for them, and promtool finds nothing wrong
// with either service's /metrics.
func TestMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Missing(t, "promtool", "install Debian's prometheus package (./scripts/setup does)")
	}
	s := e2e.StartStack(t, bin, e2e.StackOptions{})
	for i := range 200 {
		code, body, err := e2e.Get(s.Client, fmt.Sprintf("%s/products/id-%03d", s.CatalogURL, i), nil)
		if err != nil || (code != http.StatusOK && code != http.StatusNotFound) {
			t.Fatalf("GET /products/id-%03d: %d %s %v", i, code, body, err)
		}
	}
	for range 3 {
		if r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p2","quantity":3}`); r.Status != http.StatusCreated {
			t.Fatalf("POST /orders: %d: %s", r.Status, r.Body)
		}
	}

	tests := []struct {
		name       string
		admin      string
		wantRoutes []string // the route label values of http_requests_total, sorted
	}{
		// Orders' three lookups reached catalog too.
		{"catalog", s.CatalogAdmin, []string{"/products/{id}"}},
		{"orders", s.OrdersAdmin, []string{"/orders"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, err := e2e.Get(s.Client, tt.admin+"/metrics", nil)
			if err != nil || code != http.StatusOK {
				t.Fatalf("GET /metrics: %d %v", code, err)
			}
			var routes []string
			for _, m := range routeLabel.FindAllSubmatch(body, -1) {
				if r := string(m[1]); !slices.Contains(routes, r) {
					routes = append(routes, r)
				}
			}
			slices.Sort(routes)
			if !slices.Equal(routes, tt.wantRoutes) {
				t.Errorf("route labels %q, want %q", routes, tt.wantRoutes)
			}
			for _, series := range []string{"http_request_duration_seconds_bucket", "http_requests_in_flight", "go_goroutines", "process_cpu_seconds_total"} {
				if !bytes.Contains(body, []byte(series)) {
					t.Errorf("no %s in /metrics", series)
				}
			}

			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = bytes.NewReader(body)
			if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("promtool check metrics: %v\n%s", err, out)
			}
		})
	}
}
