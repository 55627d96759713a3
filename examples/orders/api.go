package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/prodready/prodready/examples/internal/httpjson"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/server"
)

// Limits of an order request: a body larger than any valid order is
// refused before it is read whole.
const (
	maxBody      = 4 << 10
	maxProductID = 64
	maxQuantity  = 1000
)

type api struct {
	db      *database
	catalog *catalogClient
}

func newAPI(db *database, catalog *catalogClient) *api {
	return &api{db: db, catalog: catalog}
}

func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", a.createOrder)
	mux.HandleFunc("GET /orders/{id}", a.getOrder)
	return mux
}

func (a *api) createOrder(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ProductID string `json:"product_id"`
		Quantity  int    `json:"quantity"`
	}
	if err := httpjson.Decode(w, r, maxBody, &in); err != nil {
		httpjson.Error(w, r, httpjson.Status(err), err.Error())
		return
	}
	switch {
	case !validProductID(in.ProductID):
		httpjson.Error(w, r, http.StatusBadRequest,
			"product_id must be 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit")
		return
	case in.Quantity < 1 || in.Quantity > maxQuantity:
		httpjson.Error(w, r, http.StatusBadRequest, "quantity must be between 1 and 1000")
		return
	}

	p, err := a.catalog.product(r.Context(), in.ProductID)
	switch {
	case err != nil && timedOut(w, r, err):
		return
	case errors.Is(err, errUnknownProduct):
		httpjson.Error(w, r, http.StatusUnprocessableEntity, "unknown product")
		return
	case errors.Is(err, errCatalogDown):
		// Catalog's readiness check reports the outage; this line says
		// what it cost this request.
		logging.FromContext(r.Context()).Warn("catalog unavailable", zap.Error(err))
		httpjson.Error(w, r, http.StatusServiceUnavailable, "catalog unavailable")
		return
	case err != nil:
		logging.FromContext(r.Context()).Error("catalog lookup failed", zap.Error(err))
		httpjson.Error(w, r, http.StatusBadGateway, "catalog failed")
		return
	}

	o, err := a.db.create(r.Context(), Order{ProductID: p.ID, Quantity: in.Quantity, UnitPriceCents: p.PriceCents})
	if err != nil {
		databaseError(w, r, err)
		return
	}
	w.Header().Set("Location", "/orders/"+strconv.FormatInt(o.ID, 10))
	httpjson.Write(w, http.StatusCreated, o)
}

// validProductID reports whether id can be a product ID: catalog's IDs
// are short words. Anything else is the client's mistake, answered 400
// before catalog is asked: "." or ".." would otherwise reach catalog as a
// path its router cleans and redirects, and "%", "/", "?" or spaces have
// no business in an ID.
func validProductID(id string) bool {
	if id == "" || len(id) > maxProductID || !isAlnum(id[0]) {
		return false
	}
	for i := range len(id) {
		if c := id[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func (a *api) getOrder(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		httpjson.Error(w, r, http.StatusBadRequest, "order id must be a positive integer")
		return
	}
	o, err := a.db.get(r.Context(), id)
	switch {
	case errors.Is(err, errNotFound):
		httpjson.Error(w, r, http.StatusNotFound, "order not found")
	case err != nil:
		databaseError(w, r, err)
	default:
		httpjson.Write(w, http.StatusOK, o)
	}
}

// databaseError answers a failed query: 503 when the database is away (the
// client may retry, elsewhere or later), 500 otherwise. The cause is
// logged, never shown.
func databaseError(w http.ResponseWriter, r *http.Request, err error) {
	if timedOut(w, r, err) {
		return
	}
	logging.FromContext(r.Context()).Error("database", zap.Error(err))
	if unavailable(err) {
		httpjson.Error(w, r, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	httpjson.Error(w, r, http.StatusInternalServerError, "internal error")
}

// timedOut answers a JSON 504 when the request's deadline
// (HTTP_REQUEST_TIMEOUT, server.Deadline) is what ended the step that
// failed with err, and reports whether it did: the client is told that
// the request ran out of time, whichever step was waiting. The warning
// names the step's error; the access line says 504.
func timedOut(w http.ResponseWriter, r *http.Request, err error) bool {
	if !errors.Is(context.Cause(r.Context()), server.ErrDeadline) {
		return false
	}
	logging.FromContext(r.Context()).Warn("request deadline exceeded", zap.Error(err))
	httpjson.Error(w, r, http.StatusGatewayTimeout, "request deadline exceeded")
	return true
}
