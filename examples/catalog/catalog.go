package main

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/prodready/prodready/examples/internal/httpjson"
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
	httpjson.Write(w, http.StatusOK, c.list)
}

func (c *catalog) getProduct(w http.ResponseWriter, r *http.Request) {
	p, ok := c.byID[r.PathValue("id")]
	if !ok {
		httpjson.Error(w, r, http.StatusNotFound, "product not found")
		return
	}
	httpjson.Write(w, http.StatusOK, p)
}

// work holds the request for ?duration= (at most maxWork): the slow
// request a graceful shutdown has to let finish. A client that goes away
// ends it early.
func work(w http.ResponseWriter, r *http.Request) {
	d, err := time.ParseDuration(r.URL.Query().Get("duration"))
	if err != nil || d < 0 || d > maxWork {
		httpjson.Error(w, r, http.StatusBadRequest,
			fmt.Sprintf("duration must be a Go duration between 0s and %v, such as 2s", maxWork))
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		httpjson.Write(w, http.StatusOK, map[string]string{"worked": d.String()})
	case <-r.Context().Done():
		// The client is gone: nobody reads an answer.
	}
}
