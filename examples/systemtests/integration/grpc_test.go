//go:build unix

package integration_test

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/grpcx"

	"github.com/prodready/prodready/examples/catalog/catalogv1"
	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// TestGRPCCatalog: catalog serves catalog.v1.Catalog, grpc.health.v1 and
// reflection on GRPC_ADDR; each RPC is one access line and counted under
// the go-grpc-middleware names. Then SIGTERM with a WatchProducts stream
// and a health Watch open: the health Watch reads NOT_SERVING at once
// (the drain), the product stream ends with Unavailable when the servers
// stop, and the process exits 0, within the drain and far inside its
// budget: the open stream does not hold the shutdown.
func TestGRPCCatalog(t *testing.T) {
	const (
		drain  = 500 * time.Millisecond
		budget = 10 * time.Second
	)
	addr, admin, grpcAddr := e2e.FreeAddr(t), e2e.FreeAddr(t), e2e.FreeAddr(t)
	p := e2e.Start(t, "catalog", bin.Catalog, []string{"HTTP_ADDR=" + addr, "ADMIN_ADDR=" + admin, "GRPC_ADDR=" + grpcAddr,
		"SHUTDOWN_DRAIN_DELAY=" + drain.String(), "SHUTDOWN_TIMEOUT=" + budget.String()})
	hc := e2e.NewClient(t, 5*time.Second)
	e2e.WaitStatus(t, hc, "http://"+admin+"/readyz", http.StatusOK, e2e.ReadyWithin)

	conn, err := grpcx.NewClient(grpcAddr, grpcx.DialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	catalog := catalogv1.NewCatalogClient(conn)
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-correlation-id", "grpc-it-1")

	got, err := catalog.GetProduct(ctx, &catalogv1.GetProductRequest{Id: "p3"})
	if err != nil || got.GetName() != "Burr grinder" || got.GetPriceCents() != 12900 {
		t.Fatalf("GetProduct(p3) = %v, %v", got, err)
	}
	if _, err := catalog.GetProduct(ctx, &catalogv1.GetProductRequest{Id: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetProduct(nope) = %v, want NotFound", err)
	}
	list, err := catalog.ListProducts(ctx, &catalogv1.ListProductsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; ; n++ {
		if _, err := list.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if n != 6 {
		t.Fatalf("ListProducts sent %d products, want 6", n)
	}

	// Reflection: grpcurl's list.
	refl, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := refl.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := refl.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	if all := strings.Join(services, " "); !strings.Contains(all, "catalog.v1.Catalog") || !strings.Contains(all, "grpc.health.v1.Health") {
		t.Fatalf("reflection lists %v", services)
	}
	_ = refl.CloseSend()

	health := healthpb.NewHealthClient(conn)
	if st, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "catalog.v1.Catalog"}); err != nil ||
		st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health Check = %v, %v", st, err)
	}

	// The access line and the series of GetProduct(nope).
	lines := p.WaitLines(func(l map[string]any) bool {
		return l["msg"] == "rpc" && l["method"] == "/catalog.v1.Catalog/GetProduct" && l["code"] == "NotFound"
	}, 1, 5*time.Second)
	if l := lines[0]; l["correlation_id"] != "grpc-it-1" || l["level"] != "info" || l["service"] != "catalog" {
		t.Fatalf("access line %v", l)
	}
	_, body, err := e2e.Get(hc, "http://"+admin+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="NotFound",grpc_method="GetProduct",grpc_service="catalog.v1.Catalog",grpc_type="unary"} 1`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="ListProducts",grpc_service="catalog.v1.Catalog",grpc_type="server_stream"} 1`,
		`grpc_server_msg_sent_total{grpc_method="ListProducts",grpc_service="catalog.v1.Catalog",grpc_type="server_stream"} 6`,
		`grpc_server_handling_seconds_count{grpc_code="OK",grpc_method="GetProduct",grpc_service="catalog.v1.Catalog",grpc_type="unary"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The open streams, then SIGTERM.
	watch, err := catalog.WatchProducts(ctx, &catalogv1.WatchProductsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if _, err := watch.Recv(); err != nil {
			t.Fatalf("WatchProducts: %v", err)
		}
	}
	hw, err := health.Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := hw.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health Watch: %v, %v", st, err)
	}
	sigterm := time.Now()
	p.Signal(syscall.SIGTERM)
	if st, err := hw.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health Watch after SIGTERM: %v, %v; want NOT_SERVING", st, err)
	}
	if d := time.Since(sigterm); d >= drain {
		t.Errorf("NOT_SERVING came %v after SIGTERM, not within the %v drain", d, drain)
	}
	if _, err := watch.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("WatchProducts ended with %v, want Unavailable", err)
	}
	if code := p.Exit(budget); code != 0 {
		t.Errorf("catalog exited %d, want 0", code)
	}
	if took := time.Since(sigterm); took > drain+2*time.Second {
		t.Errorf("catalog exited %v after SIGTERM with a stream open, want about the %v drain", took, drain)
	}
	p.WaitLines(func(l map[string]any) bool {
		return l["msg"] == "rpc" && l["method"] == "/catalog.v1.Catalog/WatchProducts" && l["code"] == "Unavailable" &&
			l["correlation_id"] == "grpc-it-1" && l["msg_sent"] == float64(6)
	}, 1, time.Second)
}

// TestOrdersOverGRPC: orders looks products up with
// catalog.v1.Catalog/GetProduct (CATALOG_GRPC_ADDR): the order is created
// with catalog's price, catalog's RPC line carries the client's
// correlation ID and the trace of orders' request, and an unknown product
// is still a 422 from orders.
func TestOrdersOverGRPC(t *testing.T) {
	s := e2e.StartStack(t, bin, e2e.StackOptions{CatalogOverGRPC: true})
	const id = "e2e-grpc.lookup:1"
	created := s.Send(t, http.MethodPost, "/orders", http.Header{"X-Correlation-Id": {id}}, `{"product_id":"p3","quantity":2}`)
	if created.Status != http.StatusCreated {
		t.Fatalf("POST /orders: status %d: %s", created.Status, created.Body)
	}
	var o e2e.Order
	created.Decode(t, &o)
	if o.UnitPriceCents != 12900 || o.TotalCents != 25800 {
		t.Fatalf("created %+v, want catalog's price of p3", o)
	}
	rpc := s.Catalog.WaitLines(func(l map[string]any) bool {
		return l["msg"] == "rpc" && l["method"] == "/catalog.v1.Catalog/GetProduct" && l["correlation_id"] == id
	}, 1, 5*time.Second)[0]
	access := s.Orders.WaitLines(func(l map[string]any) bool { return l["correlation_id"] == id && l["route"] == "/orders" }, 1, 5*time.Second)[0]
	if rpc["code"] != "OK" || rpc["trace_id"] == nil || rpc["trace_id"] != access["trace_id"] {
		t.Fatalf("catalog's RPC line %v and orders' access line %v: want code OK and one trace", rpc, access)
	}
	if http := s.Catalog.WaitLines(func(l map[string]any) bool { return l["correlation_id"] == id && l["route"] != nil }, 0, 0); len(http) != 0 {
		t.Fatalf("catalog's HTTP port was used: %v", http)
	}
	unknown := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p99","quantity":1}`)
	if unknown.Status != http.StatusUnprocessableEntity {
		t.Fatalf("POST /orders with an unknown product over gRPC: %d %s, want 422", unknown.Status, unknown.Body)
	}
}
