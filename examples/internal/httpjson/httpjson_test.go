package httpjson_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prodready/prodready/examples/internal/httpjson"
)

type order struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int // 0: no error
	}{
		{"valid", "application/json", `{"product_id":"p1","quantity":2}`, 0},
		{"valid with charset", "application/json; charset=utf-8", `{"product_id":"p1","quantity":2}`, 0},
		{"no content type", "", `{"product_id":"p1","quantity":2}`, 0},
		{"malformed", "application/json", `{"product_id":`, http.StatusBadRequest},
		{"wrong type", "application/json", `{"product_id":1}`, http.StatusBadRequest},
		{"unknown field", "application/json", `{"product":"p1"}`, http.StatusBadRequest},
		{"trailing data", "application/json", `{"quantity":1}{"quantity":2}`, http.StatusBadRequest},
		{"trailing brace", "application/json", `{"quantity":1}}`, http.StatusBadRequest},
		{"trailing bracket", "application/json", `{"quantity":1}]`, http.StatusBadRequest},
		{"trailing whitespace", "application/json", "{\"quantity\":1}\n", 0},
		{"empty", "application/json", ``, http.StatusBadRequest},
		{"too large", "application/json", `{"product_id":"` + strings.Repeat("x", 100) + `"}`, http.StatusRequestEntityTooLarge},
		{"not JSON", "text/plain", `{}`, http.StatusUnsupportedMediaType},
		{"duplicate key", "application/json", `{"quantity":1,"quantity":2}`, http.StatusBadRequest},
		{"miscased key", "application/json", `{"Quantity":1}`, http.StatusBadRequest},
		{"key escaped", "application/json", `{"quantit\u0079":1}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", tt.contentType)
			var got order
			err := httpjson.Decode(httptest.NewRecorder(), r, 64, &got)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode accepted %q", tt.body)
			}
			if s := httpjson.Status(err); s != tt.wantStatus {
				t.Errorf("Status(%v) = %d, want %d", err, s, tt.wantStatus)
			}
		})
	}
}

func TestError(t *testing.T) {
	w := httptest.NewRecorder()
	httpjson.Error(w, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusNotFound, "order not found")
	if w.Code != http.StatusNotFound || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var body httpjson.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != "order not found" {
		t.Fatalf("body %s: %v", w.Body, err)
	}
}

// FuzzDecode: whatever the body, Decode does not panic and refuses with
// a 4xx; what it accepts encoding/json decodes to the same value, with
// only the exact keys; adding a duplicate or a miscased key to an
// accepted object gets it refused, naming the key.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"product_id":"p1","quantity":2}`, `{"product_id":`, `[]`, `{"quantity":1,"quantity":2}`,
		`{"Product_ID":"p1"}`, `{"product\u005fid":"p1"}`, ` {"quantity" : 3 } `, `{"a\"product_id":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		decode := func(body string) (order, error) {
			var got order
			r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
			return got, httpjson.Decode(httptest.NewRecorder(), r, 1<<10, &got)
		}
		got, err := decode(body)
		if err != nil {
			if s := httpjson.Status(err); s < 400 || s > 499 {
				t.Fatalf("status %d for a refused body", s)
			}
			return
		}
		var std order
		if err := json.Unmarshal([]byte(body), &std); err != nil || std != got {
			t.Fatalf("accepted %q as %+v; encoding/json: %+v, %v", body, got, std, err)
		}
		var keys map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &keys) != nil || keys == nil {
			return // not an object: null
		}
		for k := range keys {
			if k != "product_id" && k != "quantity" {
				t.Fatalf("accepted %q with key %q", body, k)
			}
		}
		open := strings.IndexByte(body, '{') + 1
		for _, k := range []string{"product_id", "quantity"} {
			_, had := keys[k]
			extra := body[:open] + `"` + k + `":` + `0,` + body[open:]
			if _, err := decode(extra); had && (err == nil || !strings.Contains(err.Error(), `duplicate key "`+k+`"`)) {
				t.Fatalf("%q, with %s twice: %v, want a duplicate key error", extra, k, err)
			}
			miscased := body[:open] + `"` + strings.ToUpper(k) + `":0,` + body[open:]
			if _, err := decode(miscased); err == nil || !strings.Contains(err.Error(), strings.ToUpper(k)) {
				t.Fatalf("%q: %v, want an error naming %s", miscased, err, strings.ToUpper(k))
			}
		}
	})
}
