package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/examples/catalog/catalogv1"
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

// workProblem names the setting to change, in one line, when the request
// deadline (HTTP_REQUEST_TIMEOUT) would end the longest /work allowed,
// or returns "".
func workProblem(requestTimeout time.Duration) string {
	if requestTimeout > 0 && requestTimeout <= maxWork {
		return fmt.Sprintf("HTTP_REQUEST_TIMEOUT (%v) does not exceed GET /work's limit (%v): the longest allowed /work ends in a 504; raise HTTP_REQUEST_TIMEOUT", requestTimeout, maxWork)
	}
	return ""
}

// maxCPU bounds GET /work?cpu=: a request that burns CPU for longer is
// no test of overload but a way to cause it.
const maxCPU = 100 * time.Millisecond

// work holds the request for ?duration= (at most maxWork): the slow
// request a graceful shutdown has to let finish. A client that goes away
// ends it early; so do the request deadline (504) and a shutdown whose
// budget cannot wait for it (503). With ?cpu= (at most maxCPU) it burns
// that much CPU instead: the CPU-bound request of the overload test.
func work(w http.ResponseWriter, r *http.Request) {
	if c := r.URL.Query().Get("cpu"); c != "" {
		burnCPU(w, r, c)
		return
	}
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
		answerEnded(w, r)
	}
}

// answerEnded answers a request whose context ended before its work was
// done, like every other error here, JSON with the correlation ID; a
// client that went away (context.Canceled) reads nothing.
func answerEnded(w http.ResponseWriter, r *http.Request) {
	switch cause := context.Cause(r.Context()); {
	case errors.Is(cause, server.ErrDeadline):
		writeError(w, r, http.StatusGatewayTimeout, "request deadline exceeded")
	case errors.Is(cause, shutdown.ErrBudget):
		w.Header().Set("Retry-After", "1")
		writeError(w, r, http.StatusServiceUnavailable, "shutting down: retry")
	}
}

// burnCPU serves GET /work?cpu=D: it does the work that takes D of CPU
// on this machine (see spin), so a request that shares the core with
// others costs the same whatever the load. A context that ends stops it,
// answered as for ?duration=.
func burnCPU(w http.ResponseWriter, r *http.Request, c string) {
	d, err := time.ParseDuration(c)
	if err != nil || d < 0 || d > maxCPU {
		writeError(w, r, http.StatusBadRequest,
			fmt.Sprintf("cpu must be a Go duration between 0s and %v, such as 2ms", maxCPU))
		return
	}
	if !spin(r.Context(), d) {
		answerEnded(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"burnt": d.String()})
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

// spin burns d of CPU and reports whether it finished: false when ctx
// ended first. The work is a fixed number of rounds of arithmetic, as
// many as this machine ran in d when it was measured at the first call,
// so that a request costs the same CPU whether it runs alone or shares the
// core (a wall-clock loop would cost less under load, and the thread's CPU
// clock counts the other goroutines run on the thread).
func spin(ctx context.Context, d time.Duration) bool {
	rounds := int64(float64(d) * spinRate())
	x := uint64(rounds) | 1 // #nosec G115 -- a seed for the arithmetic; rounds is never negative and its sign would not matter
	for done := int64(0); done < rounds; done += spinChunk {
		if ctx.Err() != nil {
			return false
		}
		x = spinRounds(x, min(spinChunk, rounds-done))
	}
	spinSink.Store(x)
	return true
}

// spinChunk is how many rounds run between two looks at the context:
// about ten microseconds.
const spinChunk = 8192

// spinSink keeps the compiler from dropping the arithmetic.
var spinSink atomic.Uint64

// spinRounds runs n rounds of xorshift on x.
func spinRounds(x uint64, n int64) uint64 {
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// spinRate is rounds per nanosecond, from the fastest of a few timed
// runs: the fastest is the one least disturbed by anything else.
var spinRate = sync.OnceValue(func() float64 {
	const n = 1 << 20
	best := time.Duration(math.MaxInt64)
	for range 16 {
		start := time.Now()
		spinSink.Store(spinRounds(uint64(start.UnixNano())|1, n))
		best = min(best, time.Since(start))
	}
	return float64(n) / float64(max(best, 1))
})

// registerGRPC registers catalog.v1.Catalog, served from the same
// catalogue as the HTTP routes, and reflection (grpcurl needs no proto
// file) on s.
func (c *catalog) registerGRPC(s reflection.GRPCServer) {
	catalogv1.RegisterCatalogServer(s, &catalogGRPC{c: c})
	reflection.Register(s)
}

// catalogGRPC is catalog.v1.Catalog.
type catalogGRPC struct {
	catalogv1.UnimplementedCatalogServer
	c *catalog
}

func productMsg(p Product) *catalogv1.Product {
	return &catalogv1.Product{Id: p.ID, Name: p.Name, PriceCents: p.PriceCents}
}

// GetProduct answers one product: InvalidArgument without an id, NotFound
// for an unknown one.
func (g *catalogGRPC) GetProduct(_ context.Context, req *catalogv1.GetProductRequest) (*catalogv1.Product, error) {
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "id is required")
	}
	p, ok := g.c.byID[req.GetId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such product")
	}
	return productMsg(p), nil
}

// ListProducts streams every product.
func (g *catalogGRPC) ListProducts(_ *catalogv1.ListProductsRequest, stream catalogv1.Catalog_ListProductsServer) error {
	for _, p := range g.c.list {
		if err := stream.Send(productMsg(p)); err != nil {
			return err
		}
	}
	return nil
}

// WatchProducts streams the current products, then stays open until the
// client leaves or the server stops (the catalogue is fixed, so no change
// ever follows: a real one would send each change here).
func (g *catalogGRPC) WatchProducts(_ *catalogv1.WatchProductsRequest, stream catalogv1.Catalog_WatchProductsServer) error {
	for _, p := range g.c.list {
		if err := stream.Send(productMsg(p)); err != nil {
			return err
		}
	}
	<-stream.Context().Done()
	return status.FromContextError(stream.Context().Err()).Err()
}
