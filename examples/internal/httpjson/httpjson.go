// Package httpjson writes JSON responses and JSON errors, and decodes JSON
// request bodies with a size limit, the same way in every example service.
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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

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

// Decode reads one JSON object of at most limit bytes from the request body
// into v. Unknown fields, trailing data, a wrong content type and a body
// over the limit are refused with a *RequestError (400, 415 or 413), whose
// text is safe to show the client.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &RequestError{http.StatusUnsupportedMediaType, errors.New("content type must be application/json")}
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Only the end of the body may follow. dec.More would miss a
		// stray "}" or "]", which it reads as the end of an enclosing value.
		if _, tokErr := dec.Token(); !errors.Is(tokErr, io.EOF) {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err == nil {
		return nil
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &RequestError{http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", tooBig.Limit)}
	case errors.Is(err, io.EOF):
		return &RequestError{http.StatusBadRequest, errors.New("request body is empty")}
	default:
		return &RequestError{http.StatusBadRequest, fmt.Errorf("malformed JSON: %w", err)}
	}
}
