package httpjson_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prodready/prodready/examples/internal/httpjson"
)

// TestDecodeKeys: keys are matched exactly, once each, at every depth,
// and the 400 names the key; encoding/json alone would have decoded each
// of these bodies, taking the last duplicate or a miscased key.
func TestDecodeKeys(t *testing.T) {
	type line struct {
		Sku string `json:"sku"`
	}
	type inner struct {
		Note string `json:"note"`
	}
	type request struct {
		ProductID string         `json:"product_id"`
		Lines     []line         `json:"lines"`
		Labels    map[string]int `json:"labels"`
		Extra     any            `json:"extra"`
		Raw       json.RawMessage
		inner
	}
	tests := []struct {
		name    string
		body    string
		wantErr string // "" for none
	}{
		{"all exact", `{"product_id":"p1","lines":[{"sku":"a"}],"labels":{"Any":1},"extra":{"x":1},"Raw":{"y":2},"note":"n"}`, ""},
		{"duplicate", `{"product_id":"p1","product_id":"p2"}`, `duplicate key "product_id"`},
		{"duplicate spelt with an escape", `{"product_id":"p1","product\u005fid":"p2"}`, `duplicate key "product_id"`},
		{"miscased", `{"Product_ID":"p2"}`, `unknown key "Product_ID": keys are case-sensitive, did you mean "product_id"?`},
		{"miscased promoted field", `{"Note":"n"}`, `unknown key "Note": keys are case-sensitive, did you mean "note"?`},
		{"miscased untagged field", `{"raw":{}}`, `unknown key "raw": keys are case-sensitive, did you mean "Raw"?`},
		{"unknown", `{"product":"p1"}`, `unknown key "product"`},
		{"unknown nested", `{"lines":[{"sku":"a"},{"skew":"b"}]}`, `unknown key "lines.skew"`},
		{"duplicate in a map", `{"labels":{"a":1,"a":2}}`, `duplicate key "labels.a"`},
		{"duplicate in any", `{"extra":{"x":1,"x":2}}`, `duplicate key "extra.x"`},
		{"duplicate in raw", `{"Raw":{"y":1,"y":2}}`, `duplicate key "Raw.y"`},
		{"long key cut", `{"` + strings.Repeat("k", 100) + `":1}`, `unknown key "` + strings.Repeat("k", 64) + `"…`},
		{"too deep", `{"extra":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "JSON nested deeper than 32 levels"},
		{"truncated", `{"product_id":"p1",`, "malformed JSON: unexpected EOF"},
		{"whitespace only", " \n", "request body is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			var got request
			err := httpjson.Decode(httptest.NewRecorder(), r, 4<<10, &got)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Decode: %v", err)
			case tt.wantErr == "":
			case err == nil:
				t.Fatalf("Decode accepted %s", tt.body)
			case httpjson.Status(err) != http.StatusBadRequest || err.Error() != tt.wantErr:
				t.Errorf("Decode: %d %q, want 400 %q", httpjson.Status(err), err, tt.wantErr)
			}
		})
	}
}
