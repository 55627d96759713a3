package grpcx

import (
	"context"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Readiness is what the health service answers from. *health.Checker
// satisfies it, so /readyz and grpc.health.v1 report the same state: the
// moment shutdown's OnDrain calls the Checker's Drain, Check answers
// NOT_SERVING and every Watch is sent NOT_SERVING.
type Readiness interface {
	// Ready reports whether traffic may come; it may run checks and
	// must return when ctx ends.
	Ready(ctx context.Context) bool
	// Changed returns a channel closed at the next change that may
	// change Ready's answer.
	Changed() <-chan struct{}
}

// healthService is grpc.health.v1.Health answering from a Readiness for
// the server ("") and every service registered on it.
type healthService struct {
	healthpb.UnimplementedHealthServer
	srv *Server
	r   Readiness
}

func (h *healthService) known(name string) bool {
	if name == "" {
		return true
	}
	_, ok := h.srv.services()[name]
	return ok
}

func (h *healthService) status(ctx context.Context) healthpb.HealthCheckResponse_ServingStatus {
	if h.srv.drained.Err() == nil && h.r.Ready(ctx) {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

// Check answers SERVING or NOT_SERVING, and NotFound for a service the
// server does not serve, as grpc-go's health server does.
func (h *healthService) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if !h.known(req.GetService()) {
		return nil, status.Error(codes.NotFound, "unknown service")
	}
	return &healthpb.HealthCheckResponse{Status: h.status(ctx)}, nil
}

// List answers the status of "" and of every registered service.
func (h *healthService) List(ctx context.Context, _ *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	st := h.status(ctx)
	resp := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{"": {Status: st}}}
	for name := range h.srv.services() {
		resp.Statuses[name] = &healthpb.HealthCheckResponse{Status: st}
	}
	return resp, nil
}

// Watch sends the status now and at every change, until the client leaves
// or the server stops; SERVICE_UNKNOWN for a service the server does not
// serve (services cannot be added to a serving server, so that never
// changes).
func (h *healthService) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx := stream.Context()
	if !h.known(req.GetService()) {
		if err := stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVICE_UNKNOWN}); err != nil {
			return err
		}
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	}
	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	for {
		changed := h.r.Changed()
		if st := h.status(ctx); st != last && ctx.Err() == nil {
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-changed:
		case <-ctx.Done():
			if h.srv.drained.Err() != nil && last != healthpb.HealthCheckResponse_NOT_SERVING {
				// The server stops: say so before the stream ends, for a
				// watcher whose Readiness was not drained.
				_ = stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING})
			}
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}
