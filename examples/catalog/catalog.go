package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/server"
	"github.com/prodready/prodready/shutdown"
)

// maxWork bounds GET /work: a client must not be able to hold a request,
// and a shutdown, for ever. It stays under the servers' write timeout.
const maxWork = 30 * time.Second

// Product is an item of the catalogue.
type Product struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
}

// products is the catalogue the service starts with.
var products = []Product{
	{"p1", "Espresso beans, 1 kg", 2450},
	{"p2", "Filter papers, 100", 390},
	{"p3", "Burr grinder", 12900},
	{"p4", "Milk jug, 600 ml", 1850},
	{"p5", "Tamper, 58 mm", 2990},
	{"p6", "Descaler, 500 ml", 990},
}

// catalog serves a fixed set of products; it is read-only, so safe for
// concurrent use without locks.
type catalog struct {
	list []Product
	byID map[string]Product
}

func newCatalog(list []Product) *catalog {
	c := &catalog{list: slices.Clone(list), byID: make(map[string]Product, len(list))}
	for _, p := range list {
		c.byID[p.ID] = p
	}
	return c
}

func (c *catalog) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products", c.listProducts)
	mux.HandleFunc("GET /products/{id}", c.getProduct)
	mux.HandleFunc("GET /work", work)
	return mux
}

func (c *catalog) listProducts(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, c.list)
}

func (c *catalog) getProduct(w http.ResponseWriter, r *http.Request) {
	p, ok := c.byID[r.PathValue("id")]
	if !ok {
		writeError(w, r, http.StatusNotFound, "product not found")
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// work holds the request for ?duration= (at most maxWork): the slow
// request a graceful shutdown has to let finish. A client that goes away
// ends it early; so do the request deadline (504) and a shutdown whose
// budget cannot wait for it (503).
func work(w http.ResponseWriter, r *http.Request) {
	d, err := time.ParseDuration(r.URL.Query().Get("duration"))
	if err != nil || d < 0 || d > maxWork {
		writeError(w, r, http.StatusBadRequest,
			fmt.Sprintf("duration must be a Go duration between 0s and %v, such as 2s", maxWork))
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		writeJSON(w, http.StatusOK, map[string]string{"worked": d.String()})
	case <-r.Context().Done():
		// Answered like every other error here, JSON with the correlation
		// ID; a client that went away (context.Canceled) reads nothing.
		switch cause := context.Cause(r.Context()); {
		case errors.Is(cause, server.ErrDeadline):
			writeError(w, r, http.StatusGatewayTimeout, "request deadline exceeded")
		case errors.Is(cause, shutdown.ErrBudget):
			w.Header().Set("Retry-After", "1")
			writeError(w, r, http.StatusServiceUnavailable, "shutting down: retry")
		}
	}
}

// writeJSON sends v as JSON with the status. An encoding error cannot be
// reported once the status is sent; the values here always encode.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorBody is the body of every error answer. It names the request's
// correlation ID, so that a user who reports "I got a 404" can be found in
// the logs of every service the request touched.
type errorBody struct {
	Error         string `json:"error"`
	CorrelationID string `json:"correlation_id,omitempty"`
}

// writeError answers with an errorBody.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg, CorrelationID: logging.CorrelationID(r.Context())})
}
