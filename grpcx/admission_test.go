package grpcx_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/grpcx"
)

// gate admits while open, and counts what it admitted and released.
type gate struct {
	open               atomic.Bool
	admitted, released atomic.Int64
}

func (g *gate) Admit(context.Context) (func(), error) {
	if !g.open.Load() {
		return nil, errors.New("over the limit")
	}
	g.admitted.Add(1)
	return func() { g.released.Add(1) }, nil
}

// TestAdmission: a refused RPC is RESOURCE_EXHAUSTED before its handler
// runs and recorded as shed (access line, metric); an admitted one is
// released when it ends; health RPCs are never put through the gate.
func TestAdmission(t *testing.T) {
	g := &gate{}
	g.open.Store(true)
	r := newReadiness(true)
	e := newEnv(t, grpcx.Admission(g), grpcx.Health(r))

	if _, err := e.client.UnaryCall(t.Context(), &testpb.SimpleRequest{ResponseSize: 1}); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, e.reg, "grpc_server_handled_total", labels("unary", svc, "UnaryCall", "OK"), 1)
	if g.admitted.Load() != 1 || g.released.Load() != 1 {
		t.Errorf("admitted %d released %d, want 1 and 1", g.admitted.Load(), g.released.Load())
	}

	g.open.Store(false)
	e.log.Reset()
	calls := e.svc.calls.Load()
	_, err := e.client.UnaryCall(t.Context(), &testpb.SimpleRequest{ResponseSize: 1})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("refused RPC: %v, want ResourceExhausted", err)
	}
	if e.svc.calls.Load() != calls {
		t.Error("the handler ran for a refused RPC")
	}
	if l := e.line(t, "UnaryCall"); l["error_type"] != "shed" || l["code"] != "ResourceExhausted" {
		t.Errorf("access line %v: want error_type shed, code ResourceExhausted", l)
	}
	waitCounter(t, e.reg, "grpc_server_handled_total", labels("unary", svc, "UnaryCall", "ResourceExhausted"), 1)
	shedSpans := 0
	for _, sp := range e.spans.Ended() {
		for _, kv := range sp.Attributes() {
			if kv.Key == "error.type" && kv.Value.AsString() == "shed" {
				shedSpans++
			}
		}
	}
	if shedSpans != 1 {
		t.Errorf("%d server spans say error.type shed, want 1", shedSpans)
	}

	// The probe is answered while everything else is refused.
	st, err := check(t, healthpb.NewHealthClient(e.conn), "")
	if err != nil || st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check while shedding: %v %v, want SERVING", st, err)
	}
}
