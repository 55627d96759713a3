//go:build unix

package integration_test

import (
	"net/http"
	"testing"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// TestJSONKeys: orders reads a key only under its exact name, once. With
// encoding/json alone, {"product_id":"p1","product_id":"p2"} ordered p2
// and "Product_ID" was product_id: a gateway in front that validated the
// first key, or only exact names, passed a request that orders then read
// otherwise. Each is now a 400 that names the key.
func TestJSONKeys(t *testing.T) {
	s := e2e.StartStack(t, bin, e2e.StackOptions{})
	tests := []struct {
		name, body, wantErr string
	}{
		{"duplicate", `{"product_id":"p1","product_id":"p2","quantity":1}`, `duplicate key "product_id"`},
		{"duplicate spelt with an escape", `{"product_id":"p1","product\u005fid":"p2","quantity":1}`, `duplicate key "product_id"`},
		{"miscased", `{"Product_ID":"p2","quantity":1}`, `unknown key "Product_ID": keys are case-sensitive, did you mean "product_id"?`},
		{"unknown", `{"product_id":"p2","quantity":1,"coupon":"FREE"}`, `unknown key "coupon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Send(t, http.MethodPost, "/orders", nil, tt.body)
			var e e2e.ErrorBody
			r.Decode(t, &e)
			if r.Status != http.StatusBadRequest || e.Error != tt.wantErr {
				t.Errorf("%s: %d %s, want 400 %q", tt.body, r.Status, r.Body, tt.wantErr)
			}
		})
	}
	r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p2","quantity":1}`)
	var o e2e.Order
	r.Decode(t, &o)
	if r.Status != http.StatusCreated || o.ProductID != "p2" {
		t.Fatalf("exact keys: %d %s", r.Status, r.Body)
	}
}
