//go:build unix

package integration_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// TestProductIDs: a product ID that cannot be one is the client's
// mistake: a 400 that says what an ID is, one info access line, and no
// request to catalog. "." used to reach catalog as GET /products/., be
// redirected to the product list, fail to decode and come back as a 502
// with an error line and a stack.
func TestProductIDs(t *testing.T) {
	s := e2e.StartStack(t, bin, e2e.StackOptions{})
	ids := []string{".", "..", "../products", "p1/../p2", "%2e", "p1?x=1", "p 1", "-p1", strings.Repeat("p", 65)}
	for i, id := range ids {
		t.Run(id[:min(len(id), 16)], func(t *testing.T) {
			cid := fmt.Sprintf("bad-product-id-%d", i)
			r := s.Send(t, http.MethodPost, "/orders", http.Header{"X-Correlation-Id": {cid}},
				fmt.Sprintf(`{"product_id":%q,"quantity":1}`, id))
			var e e2e.ErrorBody
			r.Decode(t, &e)
			if r.Status != http.StatusBadRequest || !strings.Contains(e.Error, "product_id") {
				t.Fatalf("product_id %q: %d %s, want a 400 about product_id", id, r.Status, r.Body)
			}
			lines := s.Orders.WaitLines(func(l map[string]any) bool { return l["correlation_id"] == cid }, 1, 5*time.Second)
			if len(lines) != 1 || lines[0]["level"] != "info" || lines[0]["status"] != float64(http.StatusBadRequest) {
				t.Errorf("orders' lines for it: %v, want one info access line", lines)
			}
			if got := e2e.LinesWith(s.Catalog, cid); len(got) != 0 {
				t.Errorf("catalog was asked: %v", got)
			}
		})
	}
	if r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p1","quantity":1}`); r.Status != http.StatusCreated {
		t.Fatalf("a valid ID after the bad ones: %d %s", r.Status, r.Body)
	}
}
