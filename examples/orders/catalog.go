package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prodready/prodready/examples/catalog/catalogv1"
	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/server"
	"github.com/prodready/prodready/tracing"
)

var (
	errUnknownProduct = errors.New("orders: unknown product")
	// errCatalogDown: catalog is away (not listening, not answering in
	// time, draining or overloaded); the client may retry later: 503.
	errCatalogDown = errors.New("orders: catalog unavailable")
	// errCatalogBroken: catalog answered, but not as its API says: a bug
	// on one side or the other, worth an error line: 502.
	errCatalogBroken = errors.New("orders: catalog answered out of contract")
)

// product is what orders needs of catalog's product.
type product struct {
	ID         string `json:"id"`
	PriceCents int64  `json:"price_cents"`
}

// catalogTimeout bounds one lookup in catalog, reading the answer
// included; catalogDownTimeout bounds it while the last readiness check of
// catalog failed. A lookup takes milliseconds.
const (
	catalogTimeout     = 2 * time.Second
	catalogDownTimeout = 250 * time.Millisecond
)

// catalogClient calls catalog. Every timeout is set (server.NewClient): a
// catalog that hangs must cost a request seconds, not a goroutine for ever.
//
// Catalog is a dependency of POST /orders only, so it is a non-critical
// readiness check of orders (see routes): while it is away orders stays
// in the Service and serves what does not need it. What does need it
// fails fast with a 503: at once when nothing listens, and within
// catalogDownTimeout when catalog hangs, because the last check said it
// is down. Lookups are still tried meanwhile, rather than refused until
// the next check passes: the check goes through catalog's Service to one
// pod, which may be a draining one during a rollout while the others
// serve, and orders takes orders again the moment catalog answers.
type catalogClient struct {
	base string
	http *http.Client
	grpc catalogv1.CatalogClient // set: lookups go over gRPC (catalog_grpc.go)
	down atomic.Bool             // the last readiness check of catalog failed
}

func newCatalogClient(base string) *catalogClient {
	c := server.NewClient(catalogTimeout)
	// The correlation ID and the trace go on to catalog. Tracing is
	// outermost, as in the middleware order, so that the client span is
	// current for the layers beneath it.
	c.Transport = tracing.Transport(logging.Transport(c.Transport))
	return &catalogClient{base: strings.TrimSuffix(base, "/"), http: c}
}

// check wraps catalog's readiness check so that its result also sets the
// lookups' timeout.
func (c *catalogClient) check(ready health.Check) health.Check {
	return func(ctx context.Context) error {
		err := ready(ctx)
		c.down.Store(err != nil)
		return err
	}
}

// product looks id up in catalog: errUnknownProduct when catalog does not
// have it, errCatalogDown when catalog is away, errCatalogBroken when its
// answer makes no sense.
func (c *catalogClient) product(ctx context.Context, id string) (product, error) {
	timeout := catalogTimeout
	if c.down.Load() {
		timeout = catalogDownTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if c.grpc != nil {
		return c.productGRPC(ctx, id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/products/"+url.PathEscape(id), nil)
	if err != nil {
		return product{}, err
	}
	resp, err := c.http.Do(req) // #nosec G107 G704 -- the base URL is configuration; id is validated and path-escaped
	if err != nil {
		return product{}, fmt.Errorf("%w: %w", errCatalogDown, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, 64<<10)
	defer func() { _, _ = io.Copy(io.Discard, body) }() // so the connection is reused
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return product{}, errUnknownProduct
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return product{}, fmt.Errorf("%w: GET /products/{id}: %s", errCatalogDown, resp.Status)
	default:
		return product{}, fmt.Errorf("%w: GET /products/{id}: %s", errCatalogBroken, resp.Status)
	}
	var p product
	if err := json.NewDecoder(body).Decode(&p); err != nil {
		return product{}, fmt.Errorf("%w: product %q: %w", errCatalogBroken, id, err)
	}
	if p.ID != id {
		return product{}, fmt.Errorf("%w: asked for product %q, got %q", errCatalogBroken, id, p.ID)
	}
	return p, nil
}
