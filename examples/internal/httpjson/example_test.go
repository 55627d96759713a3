package httpjson_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prodready/prodready/examples/internal/httpjson"
)

func ExampleDecode() {
	r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"quantity":"two"}`))
	w := httptest.NewRecorder()
	var in struct {
		Quantity int `json:"quantity"`
	}
	if err := httpjson.Decode(w, r, 4<<10, &in); err != nil {
		httpjson.Error(w, r, httpjson.Status(err), err.Error())
	}
	fmt.Print(w.Code, " ", w.Body)
	// Output:
	// 400 {"error":"malformed JSON: json: cannot unmarshal string into Go struct field .quantity of type int"}
}
