package main

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/examples/catalog/catalogv1"
	"github.com/prodready/prodready/grpcx"
	"github.com/prodready/prodready/logging"
)

// dialCatalog makes the lookups go to catalog.v1.Catalog at addr
// (plaintext, as catalog serves it) instead of catalog's HTTP port. The
// connection sends the request's correlation ID (logging.CorrelationID:
// orders serves HTTP) and trace context with each call, pings as
// catalog's server permits, and reconnects by itself; it is closed by the
// returned function.
func (c *catalogClient) dialCatalog(addr string) (closeConn func() error, err error) {
	conn, err := grpcx.NewClient(addr,
		grpcx.CorrelationIDFrom(logging.CorrelationID),
		grpcx.DialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		return nil, fmt.Errorf("CATALOG_GRPC_ADDR: %w", err)
	}
	c.grpc = catalogv1.NewCatalogClient(conn)
	return conn.Close, nil
}

// productGRPC is product over gRPC, with the same errors: NotFound is an
// unknown product, a catalog that is away or out of time is down, and
// anything else is out of contract.
func (c *catalogClient) productGRPC(ctx context.Context, id string) (product, error) {
	p, err := c.grpc.GetProduct(ctx, &catalogv1.GetProductRequest{Id: id})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound:
		return product{}, errUnknownProduct
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Canceled:
		return product{}, fmt.Errorf("%w: GetProduct: %w", errCatalogDown, err)
	default:
		return product{}, fmt.Errorf("%w: GetProduct: %w", errCatalogBroken, err)
	}
	if p.GetId() != id {
		return product{}, fmt.Errorf("%w: asked for product %q, got %q", errCatalogBroken, id, p.GetId())
	}
	return product{ID: p.GetId(), PriceCents: p.GetPriceCents()}, nil
}
