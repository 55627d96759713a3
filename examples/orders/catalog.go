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
	"time"

	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/server"
	"github.com/prodready/prodready/tracing"
)

var errUnknownProduct = errors.New("orders: unknown product")

// product is what orders needs of catalog's product.
type product struct {
	ID         string `json:"id"`
	PriceCents int64  `json:"price_cents"`
}

// catalogTimeout bounds one lookup in catalog, reading the answer included.
const catalogTimeout = 5 * time.Second

// catalogClient calls catalog. Every timeout is set (server.NewClient): a
// catalog that hangs must cost a request seconds, not a goroutine for ever.
type catalogClient struct {
	base string
	http *http.Client
}

func newCatalogClient(base string) *catalogClient {
	c := server.NewClient(catalogTimeout)
	// The correlation ID and the trace go on to catalog. Tracing is
	// outermost, as in the middleware order, so that the client span is
	// current for the layers beneath it.
	c.Transport = tracing.Transport(logging.Transport(c.Transport))
	return &catalogClient{base: strings.TrimSuffix(base, "/"), http: c}
}

// product looks id up in catalog: errUnknownProduct when catalog does not
// have it, another error when catalog could not say.
func (c *catalogClient) product(ctx context.Context, id string) (product, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/products/"+url.PathEscape(id), nil)
	if err != nil {
		return product{}, err
	}
	resp, err := c.http.Do(req) // #nosec G107 G704 -- the base URL is configuration; id is path-escaped
	if err != nil {
		return product{}, fmt.Errorf("catalog: %w", err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, 64<<10)
	defer func() { _, _ = io.Copy(io.Discard, body) }() // so the connection is reused
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return product{}, errUnknownProduct
	default:
		return product{}, fmt.Errorf("catalog: GET /products/{id}: %s", resp.Status)
	}
	var p product
	if err := json.NewDecoder(body).Decode(&p); err != nil {
		return product{}, fmt.Errorf("catalog: product %q: %w", id, err)
	}
	return p, nil
}
