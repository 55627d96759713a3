// Package httpjson writes JSON responses and JSON errors, and decodes JSON
// request bodies with a size limit and exact keys (no unknown, miscased or
// duplicate key), for orders. catalog, the recipe to copy, imports nothing
// from examples/internal and writes its answers, with the same error body,
// in catalog.go.
//
// Every error body names the request's correlation ID, so that a user who
// reports "I got a 400" can be found in the logs of every service the
// request touched.
//
// # Usage
//
//	var in order
//	if err := httpjson.Decode(w, r, 4<<10, &in); err != nil {
//		httpjson.Error(w, r, httpjson.Status(err), err.Error())
//		return
//	}
//	httpjson.Write(w, http.StatusCreated, created)
package httpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"

	"github.com/prodready/prodready/logging"
)

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error         string `json:"error"`
	CorrelationID string `json:"correlation_id,omitempty"`
}

// Write sends v as JSON with the status. An encoding error cannot be
// reported to the client once the status is sent; values passed here are
// plain structs that always encode.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error sends an ErrorBody with msg and the request's correlation ID.
func Error(w http.ResponseWriter, r *http.Request, status int, msg string) {
	Write(w, status, ErrorBody{Error: msg, CorrelationID: logging.CorrelationID(r.Context())})
}

// RequestError is a request body that Decode refused, with the status to
// answer it with.
type RequestError struct {
	Status int
	Err    error
}

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

// Status returns the status for err: the RequestError's, or 500.
func Status(err error) int {
	var re *RequestError
	if errors.As(err, &re) {
		return re.Status
	}
	return http.StatusInternalServerError
}

// Decode reads one JSON value of at most limit bytes from the request
// body into v. A wrong content type, a body over the limit, malformed
// JSON, trailing data and a value of the wrong type are refused with a
// *RequestError (415, 413 or 400) whose text is safe to show the client.
//
// Object keys must be exactly the names v's struct fields decode from,
// each at most once. encoding/json alone matches keys case-insensitively
// and keeps the last of duplicate keys, so {"product_id":"p1",
// "Product_ID":"p2"} orders p2 where a gateway or a WAF in front, reading
// the same bytes with another parser, saw p1: a request validated as one
// thing and served as another. Decode refuses unknown, miscased and
// duplicate keys, at every depth, with a 400 that names the key.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &RequestError{http.StatusUnsupportedMediaType, errors.New("content type must be application/json")}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &RequestError{http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", tooBig.Limit)}
	case err != nil:
		return &RequestError{http.StatusBadRequest, fmt.Errorf("reading the request body: %w", err)}
	}
	if err := checkKeys(body, reflect.TypeOf(v)); err != nil {
		return &RequestError{http.StatusBadRequest, err}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &RequestError{http.StatusBadRequest, fmt.Errorf("malformed JSON: %w", err)}
	}
	return nil
}
