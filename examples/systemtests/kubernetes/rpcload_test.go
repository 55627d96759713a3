//go:build kubernetes

package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/examples/catalog/catalogv1"
	"github.com/prodready/prodready/grpcx"
)

// retryUnavailable is the service config a client of catalog.v1.Catalog
// sets (gRPC's retry design, A6): its methods only read, so a call that
// ends UNAVAILABLE before any answer (a stream refused by a server that
// is stopping, a connection that went away) is tried again, a few times,
// backing off. Transparent retries, which gRPC makes by itself, cover only
// the RPCs a server never saw.
const retryUnavailable = `{"methodConfig": [{
  "name": [{"service": "catalog.v1.Catalog"}],
  "retryPolicy": {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"]
  }
}]}`

// rpcLoad is a load of catalog.v1.Catalog RPCs through the Service, from
// clients as a service in another pod makes them: grpcx.NewClient (its
// keepalive, which the server permits), one connection each, reconnecting
// by itself when the server sends GOAWAY, with retryUnavailable. Each
// client calls GetProduct and ListProducts in a loop, and keeps a
// WatchProducts open, re-opening it when the server ends it with
// Unavailable (the drain ends open streams so the shutdown is not held).
type rpcLoad struct {
	*load
	products int // what ListProducts and WatchProducts send

	calls    atomic.Int64 // RPCs the clients made
	counter  attempts     // what gRPC sent for them
	watchers int
	watching atomic.Int64 // watches that have the current products and wait
	drained  atomic.Int64 // watches the server ended with Unavailable
	open     atomic.Int64 // watching when the load stopped
}

// attempts counts the clients' connections and RPC attempts: a call
// retried takes more than one.
type attempts struct {
	conns, begun, transparent atomic.Int64
}

var _ stats.Handler = (*attempts)(nil)

func (a *attempts) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (a *attempts) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (a *attempts) HandleRPC(_ context.Context, s stats.RPCStats) {
	if b, ok := s.(*stats.Begin); ok && b.Client {
		a.begun.Add(1)
		if b.IsTransparentRetryAttempt {
			a.transparent.Add(1)
		}
	}
}

func (a *attempts) HandleConn(_ context.Context, s stats.ConnStats) {
	if b, ok := s.(*stats.ConnBegin); ok && b.Client {
		a.conns.Add(1)
	}
}

// startRPCLoad starts clients clients of catalog.v1.Catalog at addr.
func startRPCLoad(t testing.TB, name, addr string, clients int, pause time.Duration) *rpcLoad {
	t.Helper()
	r := &rpcLoad{load: newLoad(t, name), watchers: clients}
	r.notes = r.figures
	watchCtx, stopWatches := context.WithCancel(context.Background())
	var watches sync.WaitGroup
	var conns []*grpc.ClientConn
	for range clients {
		conn, err := grpcx.NewClient(addr, grpcx.DialOptions(
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultServiceConfig(retryUnavailable),
			grpc.WithStatsHandler(&r.counter)))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
	}
	// Stopped in this order: the unary workers (stop), then the watches,
	// which must all be open again by then, then the connections.
	r.closers = append(r.closers, func() {
		r.open.Store(r.watching.Load())
		if n := r.open.Load(); n != int64(r.watchers) {
			r.fail(fmt.Sprintf("WatchProducts: %d of %d watches open when the load stopped", n, r.watchers))
		}
		stopWatches()
		watches.Wait()
		for _, c := range conns {
			_ = c.Close()
		}
	})

	first := catalogv1.NewCatalogClient(conns[0])
	n, err := r.list(first)
	if err != nil || n == 0 {
		r.stop()
		t.Fatalf("%s: ListProducts before the load: %d products, %v", name, n, err)
	}
	r.products = n
	for _, conn := range conns {
		client := catalogv1.NewCatalogClient(conn)
		r.start(1, pause, func() error { return r.get(client, "p2") })
		r.start(1, pause, func() error {
			n, err := r.list(client)
			if err == nil && n != r.products {
				err = fmt.Errorf("ListProducts: %d products, want %d", n, r.products)
			}
			return err
		})
		watches.Go(func() { r.watch(watchCtx, client, pause) })
	}
	return r
}

func (r *rpcLoad) get(client catalogv1.CatalogClient, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.calls.Add(1)
	p, err := client.GetProduct(ctx, &catalogv1.GetProductRequest{Id: id})
	if err != nil {
		return fmt.Errorf("GetProduct: %w", err)
	}
	if p.GetId() != id {
		return fmt.Errorf("GetProduct(%q): product %q", id, p.GetId())
	}
	return nil
}

// list calls ListProducts and reads the stream to its end.
func (r *rpcLoad) list(client catalogv1.CatalogClient) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.calls.Add(1)
	stream, err := client.ListProducts(ctx, &catalogv1.ListProductsRequest{})
	if err != nil {
		return 0, fmt.Errorf("ListProducts: %w", err)
	}
	for n := 0; ; n++ {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, fmt.Errorf("ListProducts after %d products: %w", n, err)
		}
	}
}

// watch keeps a WatchProducts open until ctx ends. A watch the server
// ends with Unavailable is re-opened, as its client would; any other end
// is a failure.
func (r *rpcLoad) watch(ctx context.Context, client catalogv1.CatalogClient, pause time.Duration) {
	for {
		err := r.watchOnce(ctx, client)
		switch {
		case ctx.Err() != nil:
			return
		case status.Code(err) == codes.Unavailable:
			r.drained.Add(1)
		default:
			r.fail(fmt.Sprintf("WatchProducts: %v", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// watchOnce opens a watch, reads the current products and waits for its
// end: the catalogue is fixed, so nothing else comes.
func (r *rpcLoad) watchOnce(ctx context.Context, client catalogv1.CatalogClient) error {
	r.calls.Add(1)
	stream, err := client.WatchProducts(ctx, &catalogv1.WatchProductsRequest{})
	if err != nil {
		return err
	}
	for i := range r.products {
		if _, err := stream.Recv(); err != nil {
			return fmt.Errorf("after %d of %d products: %w", i, r.products, err)
		}
	}
	r.watching.Add(1)
	defer r.watching.Add(-1)
	if _, err := stream.Recv(); err != nil {
		return err
	}
	return errors.New("a product after the current ones, from a fixed catalogue")
}

func (r *rpcLoad) figures() string {
	calls, begun := r.calls.Load(), r.counter.begun.Load()
	return fmt.Sprintf("%d attempts for %d RPCs (%d retried, %d of them transparently by gRPC); %d connections opened by %d clients; "+
		"%d watches ended by the server with Unavailable and re-opened, %d of %d open at the end",
		begun, calls, begun-calls, r.counter.transparent.Load(), r.counter.conns.Load(), r.watchers,
		r.drained.Load(), r.open.Load(), r.watchers)
}
