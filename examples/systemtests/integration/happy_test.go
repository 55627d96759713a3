//go:build unix

package integration_test

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestHappyPath: an order is created and read back; one correlation ID,
// sent by the client, is on the access lines of both services and in both
// answers, and those lines share one trace ID.
func TestHappyPath(t *testing.T) {
	s := e2e.StartStack(t, bin, e2e.StackOptions{})
	const id = "e2e-happy.path:1"
	header := http.Header{"X-Correlation-Id": {id}}

	created := s.Send(t, http.MethodPost, "/orders", header, `{"product_id":"p3","quantity":2}`)
	if created.Status != http.StatusCreated {
		t.Fatalf("POST /orders: status %d: %s", created.Status, created.Body)
	}
	var o e2e.Order
	created.Decode(t, &o)
	want := e2e.Order{ID: o.ID, ProductID: "p3", Quantity: 2, UnitPriceCents: 12900, TotalCents: 25800}
	if o != want || o.ID < 1 {
		t.Fatalf("created %+v, want %+v", o, want)
	}
	if loc := created.Header.Get("Location"); loc != "/orders/"+strconv.FormatInt(o.ID, 10) {
		t.Errorf("Location %q", loc)
	}

	read := s.Send(t, http.MethodGet, "/orders/"+strconv.FormatInt(o.ID, 10), header, "")
	if read.Status != http.StatusOK {
		t.Fatalf("GET /orders/%d: status %d: %s", o.ID, read.Status, read.Body)
	}
	var got e2e.Order
	read.Decode(t, &got)
	if got != o {
		t.Errorf("read %+v, created %+v", got, o)
	}
	for name, r := range map[string]e2e.Response{"POST": created, "GET": read} {
		if h := r.Header.Get("X-Correlation-Id"); h != id {
			t.Errorf("%s answer X-Correlation-ID = %q, want %q", name, h, id)
		}
	}

	withID := func(l map[string]any) bool { return l["correlation_id"] == id && l["status"] != nil }
	ordersLines := s.Orders.WaitLines(withID, 2, 5*time.Second)
	catalogLines := s.Catalog.WaitLines(withID, 1, 5*time.Second)
	wantRoutes := map[string]float64{"/orders": 201, "/orders/{id}": 200}
	for _, l := range ordersLines {
		if code, ok := wantRoutes[l["route"].(string)]; !ok || l["status"] != code {
			t.Errorf("orders access line: route %v status %v, want one of %v", l["route"], l["status"], wantRoutes)
		}
	}
	lookup := catalogLines[0]
	if lookup["route"] != "/products/{id}" || lookup["status"] != float64(200) || lookup["path"] != "/products/p3" {
		t.Errorf("catalog access line %v", lookup)
	}

	// The POST's trace continues in catalog.
	var postTrace any
	for _, l := range ordersLines {
		if l["route"] == "/orders" {
			postTrace = l["trace_id"]
		}
	}
	if s, _ := postTrace.(string); !traceIDPattern.MatchString(s) {
		t.Fatalf("orders access line trace_id %v, want 32 hex digits", postTrace)
	}
	if lookup["trace_id"] != postTrace {
		t.Errorf("catalog trace_id %v, orders trace_id %v: the trace did not continue", lookup["trace_id"], postTrace)
	}

	// Every line of both services is a JSON object with the common keys.
	for _, p := range []*e2e.Proc{s.Orders, s.Catalog} {
		for _, l := range p.Logs() {
			for _, k := range []string{"time", "level", "msg", "service"} {
				if _, ok := l[k]; !ok {
					t.Errorf("%s line without %q: %v", p.Name(), k, l)
				}
			}
		}
	}

	// The healthcheck subcommand, as Docker's HEALTHCHECK runs it.
	for _, c := range []struct{ bin, admin string }{{bin.Catalog, s.CatalogAdmin}, {bin.Orders, s.OrdersAdmin}} {
		if code, out := e2e.Run(t, c.bin, []string{"ADMIN_ADDR=" + c.admin[len("http://"):]}, "healthcheck"); code != 0 {
			t.Errorf("%s healthcheck: exit %d: %s", c.bin, code, out)
		}
	}
}

// TestHealthcheckFailsWhenNotServing: the subcommand exits 1 when nothing
// answers, so Docker marks the container unhealthy.
func TestHealthcheckFailsWhenNotServing(t *testing.T) {
	tests := []struct {
		name string
		bin  string
	}{
		{"catalog", bin.Catalog},
		{"orders", bin.Orders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := e2e.Run(t, tt.bin, []string{"ADMIN_ADDR=" + e2e.FreeAddr(t)}, "healthcheck")
			if code != 1 {
				t.Fatalf("healthcheck with nothing listening: exit %d, want 1: %s", code, out)
			}
		})
	}
}
