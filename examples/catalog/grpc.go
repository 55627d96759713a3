package main

import (
	"context"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/examples/catalog/catalogv1"
	"github.com/prodready/prodready/grpcx"
	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/shutdown"
)

// serveGRPC serves catalog.v1.Catalog on addr, plaintext, beside the HTTP
// routes and from the same catalogue, with grpc.health.v1 answering from
// the readiness checks (NOT_SERVING from the first moment of the drain,
// for Kubernetes' grpc: probes) and reflection on (grpcurl needs no proto
// file). The shutdown stops it with the HTTP servers: open WatchProducts
// streams end (Unavailable: clients re-watch elsewhere), unary RPCs
// finish.
func serveGRPC(sd *shutdown.Manager, addr string, logger *zap.Logger, reg prometheus.Registerer, checks *health.Checker) error {
	srv, err := grpcx.NewServer(grpcx.Logger(logger), grpcx.Metrics(reg), grpcx.Health(checks))
	if err != nil {
		return err
	}
	catalogv1.RegisterCatalogServer(srv, &catalogGRPC{c: newCatalog(products)})
	reflection.Register(srv)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	sd.ServeGRPC(srv, ln)
	return nil
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
