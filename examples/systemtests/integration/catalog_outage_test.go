//go:build unix

package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// TestCatalogOutage: readiness says whether this instance can serve its
// traffic, not whether every dependency is up. With catalog gone (stopped,
// or hung: accepting connections and answering nothing), orders stays
// ready with a warning, serves GET /orders/{id}, which never calls
// catalog, and answers POST /orders with a quick JSON 503 instead of
// holding it, with no error line (and stack) per request. When catalog
// is back, orders takes orders again, without a restart.
func TestCatalogOutage(t *testing.T) {
	tests := []struct {
		name          string
		stop, restart func(t *testing.T, s *e2e.Stack)
	}{
		{"stopped", stopCatalog, startCatalog},
		{"hung", func(t *testing.T, s *e2e.Stack) { s.Catalog.Signal(syscall.SIGSTOP) },
			func(t *testing.T, s *e2e.Stack) { s.Catalog.Signal(syscall.SIGCONT) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := e2e.StartStack(t, bin, e2e.StackOptions{})
			r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p3","quantity":2}`)
			var created e2e.Order
			r.Decode(t, &created)
			if r.Status != http.StatusCreated {
				t.Fatalf("POST /orders: %d %s", r.Status, r.Body)
			}

			// orders was ready before catalog's first check passed (a
			// non-critical check only warns); now it passes.
			waitReadiness(t, s, "pass")
			tt.stop(t, s)
			took := waitReadiness(t, s, "warn")
			t.Logf("orders' readiness turned warn %v after catalog went away, never fail", took.Round(time.Millisecond))

			var slowest time.Duration
			for i := range 20 {
				if status := readiness(t, s); status != "warn" {
					t.Fatalf("readiness %q with catalog away, want warn", status)
				}
				r := s.Send(t, http.MethodGet, fmt.Sprintf("/orders/%d", created.ID), nil, "")
				if r.Status != http.StatusOK {
					t.Fatalf("GET /orders/%d with catalog away: %d %s", created.ID, r.Status, r.Body)
				}
				id := fmt.Sprintf("catalog-away-%d", i)
				start := time.Now()
				r = s.Send(t, http.MethodPost, "/orders", http.Header{"X-Correlation-Id": {id}}, `{"product_id":"p3","quantity":1}`)
				took := time.Since(start)
				slowest = max(slowest, took)
				var e e2e.ErrorBody
				r.Decode(t, &e)
				if r.Status != http.StatusServiceUnavailable || e.Error != "catalog unavailable" || e.CorrelationID != id {
					t.Fatalf("POST /orders with catalog away: %d %s, want 503 catalog unavailable", r.Status, r.Body)
				}
				// Catalog is known to be away: refused at once when stopped,
				// given orders' short down timeout (250ms) when hung.
				if took > e2e.CheckTimeout {
					t.Errorf("POST /orders took %v to answer 503, want a fast failure", took)
				}
			}
			t.Logf("20 POST /orders answered 503 in at most %v", slowest.Round(time.Millisecond))
			// The access lines of the 503s are at error level, as every 5xx;
			// nothing else is: catalog being away is not news per request,
			// the readiness check reports it.
			for _, l := range s.Orders.Logs() {
				if l["level"] == "error" && l["msg"] != "request" {
					t.Errorf("orders logged an error line with catalog away: %v", l)
				}
			}

			tt.restart(t, s)
			e2e.WaitStatus(t, s.Client, s.CatalogAdmin+"/readyz", http.StatusOK, e2e.ReadyWithin)
			waitReadiness(t, s, "pass")
			if r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p3","quantity":1}`); r.Status != http.StatusCreated {
				t.Fatalf("POST /orders after catalog came back: %d %s", r.Status, r.Body)
			}
		})
	}
}

// waitReadiness polls orders' /readyz until its status is want, failing
// the test if it ever fails or is not want within a check interval, a
// check timeout and some slack, and returns how long it took.
func waitReadiness(t *testing.T, s *e2e.Stack, want string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		status := readiness(t, s)
		switch {
		case status == want:
			return time.Since(start)
		case status == "fail":
			t.Fatalf("orders' /readyz failed, want %s", want)
		case time.Since(start) > e2e.CheckInterval+e2e.CheckTimeout+5*time.Second:
			t.Fatalf("readiness %q after %v, want %s", status, time.Since(start), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readiness returns the status of orders' /readyz: pass or warn with a
// 200, fail with a 503.
func readiness(t *testing.T, s *e2e.Stack) string {
	t.Helper()
	code, body, err := e2e.Get(s.Client, s.OrdersAdmin+"/readyz", nil)
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	var r struct{ Status string }
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("GET /readyz: %d %s: %v", code, body, err)
	}
	if want := map[string]int{"pass": 200, "warn": 200, "fail": 503}[r.Status]; code != want {
		t.Fatalf("GET /readyz: %d with status %q", code, r.Status)
	}
	return r.Status
}

// stopCatalog ends catalog the way Kubernetes does, and waits for it to
// exit.
func stopCatalog(t *testing.T, s *e2e.Stack) {
	s.Catalog.Signal(syscall.SIGTERM)
	if code := s.Catalog.Exit(30 * time.Second); code != 0 {
		t.Fatalf("catalog exited %d", code)
	}
}

// startCatalog starts a new catalog on the addresses of the last one.
func startCatalog(t *testing.T, s *e2e.Stack) {
	s.Catalog = e2e.Start(t, "catalog", bin.Catalog, []string{
		"HTTP_ADDR=" + strings.TrimPrefix(s.CatalogURL, "http://"),
		"ADMIN_ADDR=" + strings.TrimPrefix(s.CatalogAdmin, "http://"),
		"GRPC_ADDR=" + s.CatalogGRPC,
		"SHUTDOWN_DRAIN_DELAY=0s",
	})
}
