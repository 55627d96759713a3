package grpcx_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/grpcx"
)

// readiness is a grpcx.Readiness whose answer the test sets.
type readiness struct {
	mu    sync.Mutex
	ready bool
	ch    chan struct{}
}

func newReadiness(ready bool) *readiness { return &readiness{ready: ready, ch: make(chan struct{})} }

func (r *readiness) Ready(context.Context) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

func (r *readiness) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ch
}

func (r *readiness) set(ready bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ready = ready
	close(r.ch)
	r.ch = make(chan struct{})
}

func check(t *testing.T, c healthpb.HealthClient, service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	t.Helper()
	resp, err := c.Check(t.Context(), &healthpb.HealthCheckRequest{Service: service})
	return resp.GetStatus(), err
}

func TestHealthCheck(t *testing.T) {
	r := newReadiness(true)
	e := newEnv(t, grpcx.Health(r))
	c := healthpb.NewHealthClient(e.conn)
	for _, service := range []string{"", svc, "grpc.health.v1.Health"} {
		if st, err := check(t, c, service); err != nil || st != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check(%q) = %v, %v; want SERVING", service, st, err)
		}
	}
	if _, err := check(t, c, "no.such.Service"); status.Code(err) != codes.NotFound {
		t.Fatalf("Check of an unknown service = %v, want NotFound", err)
	}
	r.set(false)
	if st, err := check(t, c, svc); err != nil || st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Check when not ready = %v, %v; want NOT_SERVING", st, err)
	}
	list, err := c.List(t.Context(), &healthpb.HealthListRequest{})
	if err != nil || list.GetStatuses()[""].GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING ||
		list.GetStatuses()[svc].GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("List = %v, %v", list, err)
	}
	// Probes are counted but neither logged nor traced.
	waitCounter(t, e.reg, "grpc_server_handled_total", labels("unary", "grpc.health.v1.Health", "Check", "OK"), 4)
	if _, err := e.client.EmptyCall(t.Context(), &testpb.Empty{}); status.Code(err) != codes.Unimplemented {
		t.Fatal(err)
	}
	e.line(t, "/EmptyCall") // written after every Check's line would have been
	if strings.Contains(e.log.String(), "grpc.health.v1") {
		t.Fatalf("health RPCs were logged:\n%s", e.log)
	}
	for _, s := range e.spans.Ended() {
		if strings.Contains(s.Name(), "Health") {
			t.Fatalf("a health RPC was traced: %s", s.Name())
		}
	}
}

func TestHealthObserved(t *testing.T) {
	e := newEnv(t, grpcx.Health(newReadiness(true)), grpcx.ObserveHealth(true))
	if _, err := check(t, healthpb.NewHealthClient(e.conn), ""); err != nil {
		t.Fatal(err)
	}
	e.line(t, "/grpc.health.v1.Health/Check")
}

func recvStatus(t *testing.T, w healthpb.Health_WatchClient) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := w.Recv()
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	return resp.GetStatus()
}

// Watch sends the status, then each change, then NOT_SERVING and the end
// of the stream when the server stops.
func TestHealthWatch(t *testing.T) {
	r := newReadiness(false)
	e := newEnv(t, grpcx.Health(r))
	c := healthpb.NewHealthClient(e.conn)
	w, err := c.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	if st := recvStatus(t, w); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("first status %v, want NOT_SERVING", st)
	}
	r.set(true)
	if st := recvStatus(t, w); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("after ready: %v, want SERVING", st)
	}
	r.set(false)
	if st := recvStatus(t, w); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("after the drain: %v, want NOT_SERVING", st)
	}
	r.set(true)
	if st := recvStatus(t, w); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("ready again: %v, want SERVING", st)
	}

	unknown, err := c.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	if err != nil {
		t.Fatal(err)
	}
	if st := recvStatus(t, unknown); st != healthpb.HealthCheckResponse_SERVICE_UNKNOWN {
		t.Fatalf("Watch of an unknown service: %v, want SERVICE_UNKNOWN", st)
	}

	done := make(chan struct{})
	go func() { e.srv.GracefulStop(); close(done) }()
	if st := recvStatus(t, w); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("at GracefulStop: %v, want NOT_SERVING", st)
	}
	if _, err := w.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("the Watch ended with %v, want Unavailable", err)
	}
	if _, err := unknown.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("the unknown Watch ended with %v, want Unavailable", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("GracefulStop did not return with Watch streams open")
	}
}
