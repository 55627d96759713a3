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
	db       *database
	catalog  *catalogClient
	inFlight inFlight // the Idempotency-Keys of the requests running here
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

// createOrder is POST /orders. With an Idempotency-Key (idempotency.go),
// a retry gets the order the first attempt stored; a retry while the
// first still runs is 409, the key with another request is 422.
func (a *api) createOrder(w http.ResponseWriter, r *http.Request) {
	key, keyed, err := idempotencyKey(r)
	if err != nil {
		httpjson.Error(w, r, http.StatusBadRequest, err.Error())
		return
	}
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
	var hash []byte
	if keyed {
		if !a.inFlight.claim(key) {
			keyError(w, r, errKeyInFlight)
			return
		}
		defer a.inFlight.release(key)
		// A retry whose first attempt stored its order is answered
		// without catalog, which may be what failed the first time.
		hash = fingerprint(in.ProductID, in.Quantity)
		o, found, err := a.db.findKey(r.Context(), key, hash)
		switch {
		case errors.Is(err, errKeyReused):
			keyError(w, r, err)
			return
		case err != nil:
			databaseError(w, r, err)
			return
		case found:
			created(w, o, true)
			return
		}
	}

	p, err := a.catalog.product(r.Context(), in.ProductID)
	switch {
	case err != nil && timedOut(w, r, err, "request deadline exceeded"):
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

	o := Order{ProductID: p.ID, Quantity: in.Quantity, UnitPriceCents: p.PriceCents}
	replayed := false
	if keyed {
		o, replayed, err = a.db.createWithKey(r.Context(), o, key, hash)
	} else {
		o, err = a.db.create(r.Context(), o)
	}
	switch {
	case errors.Is(err, errKeyInFlight), errors.Is(err, errKeyReused):
		keyError(w, r, err)
	case err != nil && mayBeStored(err):
		orderUnknown(w, r, err, key)
	case err != nil:
		databaseError(w, r, err)
	default:
		created(w, o, replayed)
	}
}

// created answers the order: 201, the first time and on every replay,
// which says so in Idempotent-Replayed, as Stripe's API does.
func created(w http.ResponseWriter, o Order, replayed bool) {
	w.Header().Set("Location", "/orders/"+strconv.FormatInt(o.ID, 10))
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	httpjson.Write(w, http.StatusCreated, o)
}

// keyError answers a key in flight (409: retry later, with the same key)
// or reused for another request (422: a client bug).
func keyError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusUnprocessableEntity
	msg := "the Idempotency-Key was used for another request"
	if errors.Is(err, errKeyInFlight) {
		status = http.StatusConflict
		msg = "a request with this Idempotency-Key is in progress; retry later with the same key"
	}
	httpjson.Error(w, r, status, msg)
}

// orderUnknown answers an INSERT whose outcome only the database knows
// (mayBeStored): the order may exist. The client is told so, and that a
// retry with the same Idempotency-Key gets the order if it exists and
// creates it if not; the log line says so too, with the key to find it by.
func orderUnknown(w http.ResponseWriter, r *http.Request, err error, key string) {
	advice := "; retry with the same Idempotency-Key"
	if key == "" {
		advice = "; only a request with an Idempotency-Key can be retried without the risk of a second order"
	}
	outcome := []zap.Field{zap.String("outcome", "unknown: the order may exist"), zap.String("idempotency_key", key)}
	if timedOut(w, r, err, "request deadline exceeded: the order may have been created"+advice, outcome...) {
		return
	}
	logging.FromContext(r.Context()).Error("database", append(outcome, zap.Error(err))...)
	httpjson.Error(w, r, http.StatusServiceUnavailable, "database unavailable: the order may have been created"+advice)
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
	if timedOut(w, r, err, "request deadline exceeded") {
		return
	}
	logging.FromContext(r.Context()).Error("database", zap.Error(err))
	if unavailable(err) {
		httpjson.Error(w, r, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	httpjson.Error(w, r, http.StatusInternalServerError, "internal error")
}

// timedOut answers a JSON 504 with msg when the request's deadline
// (HTTP_REQUEST_TIMEOUT, server.Deadline) is what ended the step that
// failed with err, and reports whether it did: the client is told that
// the request ran out of time, whichever step was waiting. The warning
// names the step's error, with fields; the access line says 504.
func timedOut(w http.ResponseWriter, r *http.Request, err error, msg string, fields ...zap.Field) bool {
	if !errors.Is(context.Cause(r.Context()), server.ErrDeadline) {
		return false
	}
	logging.FromContext(r.Context()).Warn("request deadline exceeded", append(fields, zap.Error(err))...)
	httpjson.Error(w, r, http.StatusGatewayTimeout, msg)
	return true
}
