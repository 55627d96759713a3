//go:build unix

package integration_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// validID is what logging accepts as a correlation ID.
var validID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// TestBadInput: every kind of bad request gets a clean 4xx JSON error that
// names the correlation ID, leaves one log line (the access line), and the
// service keeps serving.
func TestBadInput(t *testing.T) {
	s := e2e.StartStack(t, bin, e2e.StackOptions{})
	tests := []struct {
		name          string
		method, path  string
		correlationID string // sent as X-Correlation-ID
		body          string
		wantStatus    int
		keepsID       bool // the answer carries the ID sent; false: a new valid one
	}{
		{"malformed JSON", http.MethodPost, "/orders", "bad-json", `{"product_id":"p1",`, http.StatusBadRequest, true},
		{"wrong field type", http.MethodPost, "/orders", "bad-type", `{"product_id":"p1","quantity":"2"}`, http.StatusBadRequest, true},
		{"unknown field", http.MethodPost, "/orders", "bad-field", `{"product":"p1","quantity":2}`, http.StatusBadRequest, true},
		{"quantity zero", http.MethodPost, "/orders", "bad-quantity", `{"product_id":"p1","quantity":0}`, http.StatusBadRequest, true},
		{"unknown product", http.MethodPost, "/orders", "bad-product", `{"product_id":"no-such-product","quantity":1}`, http.StatusUnprocessableEntity, true},
		{"oversize body", http.MethodPost, "/orders", "bad-size", `{"product_id":"` + strings.Repeat("x", 64<<10) + `","quantity":1}`, http.StatusRequestEntityTooLarge, true},
		{"order id not a number", http.MethodGet, "/orders/abc", "bad-order-id", "", http.StatusBadRequest, true},
		{"unknown order", http.MethodGet, "/orders/999999", "no-order", "", http.StatusNotFound, true},
		{"invalid correlation ID", http.MethodGet, "/orders/999998", "spaces and <tags> are not an ID", "", http.StatusNotFound, false},
		{"oversize correlation ID", http.MethodGet, "/orders/999997", strings.Repeat("a", 129), "", http.StatusNotFound, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Send(t, tt.method, tt.path, http.Header{"X-Correlation-Id": {tt.correlationID}}, tt.body)
			if r.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.wantStatus, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var e e2e.ErrorBody
			r.Decode(t, &e)
			id := r.Header.Get("X-Correlation-Id")
			switch {
			case e.Error == "":
				t.Errorf("error body without an error: %s", r.Body)
			case e.CorrelationID != id:
				t.Errorf("body correlation_id %q, header %q", e.CorrelationID, id)
			case tt.keepsID && id != tt.correlationID:
				t.Errorf("correlation ID %q, sent %q", id, tt.correlationID)
			case !tt.keepsID && (id == tt.correlationID || !validID.MatchString(id)):
				t.Errorf("invalid ID %q answered with %q, want a new valid one", tt.correlationID, id)
			}

			// One line, the access line, with the status; the invalid ID is
			// nowhere in the log.
			// Every line of the request was written before its answer went
			// out, so once the line of a request sent after it has been
			// read, so has any second line of this one.
			s.Orders.WaitLines(func(l map[string]any) bool { return l["correlation_id"] == id }, 1, 5*time.Second)
			after := fmt.Sprintf("after-bad-input-%d", i)
			s.Send(t, http.MethodGet, "/orders/999990", http.Header{"X-Correlation-Id": {after}}, "")
			s.Orders.WaitLines(func(l map[string]any) bool { return l["correlation_id"] == after }, 1, 5*time.Second)
			if lines := e2e.LinesWith(s.Orders, id); len(lines) != 1 || lines[0]["status"] != float64(tt.wantStatus) {
				t.Errorf("log lines for the request: %v, want one access line with status %d", lines, tt.wantStatus)
			}
			if !tt.keepsID {
				for _, line := range s.Orders.Lines() {
					if strings.Contains(line, tt.correlationID) {
						t.Errorf("the refused correlation ID reached the log: %s", line)
					}
				}
			}
		})
	}

	// Still serving.
	if r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p1","quantity":1}`); r.Status != http.StatusCreated {
		t.Fatalf("after bad input: status %d: %s", r.Status, r.Body)
	}
	if !s.Orders.Running() {
		t.Fatal("orders exited")
	}
}
