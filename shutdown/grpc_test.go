package shutdown

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// grpcServe serves a real *grpc.Server with grpc-go's own health service
// on a loopback port through m, and returns a connected client.
func grpcServe(t *testing.T, m *Manager, srv GRPCServer) healthpb.HealthClient {
	t.Helper()
	healthpb.RegisterHealthServer(srv.(grpc.ServiceRegistrar), health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.ServeGRPC(srv, ln)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func TestServeGRPCStopsGracefully(t *testing.T) {
	rec := newRecorder()
	m := New(quiet(), Signals(), DrainDelay(0), Timeout(5*time.Second), rec.observe())
	client := grpcServe(t, m, grpc.NewServer())
	resp, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check before the shutdown: %v, %v", resp, err)
	}
	start := time.Now()
	m.Trigger(nil)
	if err := m.Wait(); err != nil {
		t.Fatalf("Wait = %v, want nil: nothing was in flight", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("an idle gRPC server took %v to stop", took)
	}
	if _, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("Check after the shutdown: %v, want Unavailable", err)
	}
}

// A plain *grpc.Server's GracefulStop waits for an open stream forever
// (grpc-go#2448): the budget bounds it, Stop ends the stream, and the
// server is named in Wait's error.
func TestServeGRPCOpenStreamBoundedByBudget(t *testing.T) {
	const budget = 500 * time.Millisecond
	m := New(quiet(), Signals(), DrainDelay(0), Timeout(budget))
	client := grpcServe(t, m, grpc.NewServer())
	watch, err := client.Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch message: %v, %v", resp, err)
	}
	start := time.Now()
	m.Trigger(nil)
	err = m.Wait()
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "stopped with RPCs in flight") {
		t.Fatalf("Wait = %v, want the server named as stopped with RPCs in flight", err)
	}
	if took < budget || took > budget+time.Second {
		t.Fatalf("shutdown took %v, want the %v budget and not much more", took, budget)
	}
	if _, err := watch.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("the open stream ended with %v, want Unavailable", err)
	}
}

// stoppingServer is a GRPCServer whose GracefulStop ends open streams
// first, as grpcx.Server's does: the shutdown is then short and clean.
type stoppingServer struct {
	*grpc.Server
	streams context.CancelFunc
}

func (s stoppingServer) GracefulStop() { s.streams(); s.Server.GracefulStop() }

func TestServeGRPCStreamsEndedByServer(t *testing.T) {
	m := New(quiet(), Signals(), DrainDelay(0), Timeout(5*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	srv := grpc.NewServer(grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		done := make(chan error, 1)
		go func() { done <- h(srv, ss) }()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return status.Error(codes.Unavailable, "server stopping")
		}
	}))
	client := grpcServe(t, m, stoppingServer{srv, cancel})
	watch, err := client.Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m.Trigger(nil)
	if err := m.Wait(); err != nil {
		t.Fatalf("Wait = %v, want nil", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("shutdown took %v with the stream ended by the server", took)
	}
	if _, err := watch.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("the stream ended with %v, want Unavailable", err)
	}
}

func TestServeGRPCSeveralListeners(t *testing.T) {
	m := New(quiet(), Signals(), DrainDelay(0), Timeout(5*time.Second))
	srv := grpc.NewServer()
	first := grpcServe(t, m, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.ServeGRPC(srv, ln)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, c := range []healthpb.HealthClient{first, healthpb.NewHealthClient(conn)} {
		if _, err := c.Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	m.Trigger(nil)
	if err := m.Wait(); err != nil {
		t.Fatalf("Wait = %v", err)
	}
}

func TestServeGRPCNoListener(t *testing.T) {
	m := New(quiet(), Signals(), DrainDelay(0))
	m.ServeGRPC(grpc.NewServer(), nil)
	if err := m.Wait(); !errors.Is(err, ErrNoListener) {
		t.Fatalf("Wait = %v, want ErrNoListener", err)
	}
}

func TestServeGRPCAfterShutdownRefused(t *testing.T) {
	rec := newRecorder()
	m := New(quiet(), Signals(), DrainDelay(0), rec.observe())
	m.Trigger(nil)
	if err := m.Wait(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.ServeGRPC(grpc.NewServer(), ln)
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the listener is still open after a refused ServeGRPC: %v", err)
	}
	if got := strings.Join(rec.got(), "\n"); !strings.Contains(got, "refused") {
		t.Fatalf("no refused event:\n%s", got)
	}
}
