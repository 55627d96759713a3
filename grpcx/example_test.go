package grpcx_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/prodready/prodready/grpcx"
)

// alwaysReady is a Readiness; a service passes its *health.Checker.
type alwaysReady struct{}

func (alwaysReady) Ready(context.Context) bool { return true }
func (alwaysReady) Changed() <-chan struct{}   { return nil }

func ExampleNewServer() {
	reg := prometheus.NewRegistry()
	srv, err := grpcx.NewServer(grpcx.Logger(zap.NewNop()), grpcx.Metrics(reg), grpcx.Health(alwaysReady{}))
	if err != nil {
		slog.Error("grpc server", "err", err)
		return
	}
	// Register the services on srv here, then serve it; a service's main
	// hands it to shutdown.Manager.ServeGRPC instead.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.GracefulStop()

	conn, err := grpcx.NewClient(ln.Addr().String(), grpcx.Metrics(reg),
		grpcx.DialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		return
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err)
	// Output: SERVING <nil>
}

func ExampleNewClient() {
	conn, err := grpcx.NewClient("catalog:9000",
		grpcx.DialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	fmt.Println(conn.Target())
	// Output: catalog:9000
}
