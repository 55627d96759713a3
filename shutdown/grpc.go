package shutdown

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// GRPCServer is what ServeGRPC serves. *grpc.Server satisfies it, and so
// does a server that wraps one; the shutdown package does not import gRPC,
// so a service that serves none links none of it through this package.
type GRPCServer interface {
	Serve(net.Listener) error
	// GracefulStop stops accepting, sends GOAWAY and returns when every
	// RPC has finished.
	GracefulStop()
	// Stop closes every connection at once; RPCs in flight fail.
	Stop()
}

// ErrNoListener: ServeGRPC was given no listener (a gRPC server has no
// address of its own to listen on).
var ErrNoListener = errors.New("shutdown: no listener to serve gRPC on")

// grpcStop stops one GRPCServer once, however many listeners serve it.
type grpcStop struct {
	srv  GRPCServer
	once sync.Once
	err  error
}

// ServeGRPC serves srv on ln, as Serve serves an *http.Server: when
// shutdown begins (after the OnDrain callbacks and the drain delay, during
// which srv serves on) GracefulStop stops it accepting and waits for the
// RPCs in flight; when the budget runs out first, Stop ends those left and
// the server is named in Wait's error.
//
// GracefulStop of a *grpc.Server waits for server streams too, and does
// not end their contexts, so one client watching a stream would hold the
// shutdown to its deadline: serve a server whose GracefulStop ends the
// contexts of open streams first (grpcx.Server does), or bound your
// stream handlers yourself.
//
// One srv may be served on several listeners: call ServeGRPC once for
// each. A nil ln is an error (ErrNoListener) that begins the shutdown and
// comes back from Wait, as a port in use does. ServeGRPC returns at once;
// after shutdown began it does not serve: it closes ln and reports
// ErrShuttingDown to the observers.
func (m *Manager) ServeGRPC(srv GRPCServer, ln net.Listener) {
	m.init()
	if srv == nil || ln == nil {
		m.serveFailed("grpc", ErrNoListener)
		return
	}
	s := &server{name: ln.Addr().String(), ln: ln}
	m.mu.Lock()
	if m.began {
		m.mu.Unlock()
		_ = ln.Close()
		m.emit(Event{Step: Refused, Name: s.name, Err: ErrShuttingDown})
		return
	}
	for _, other := range m.servers {
		if other.grpc != nil && other.grpc.srv == srv {
			s.grpc = other.grpc
		}
	}
	if s.grpc == nil {
		s.grpc = &grpcStop{srv: srv}
	}
	m.servers = append(m.servers, s)
	m.serving.Add(1)
	m.mu.Unlock()
	go m.serveGRPC(s)
}

func (m *Manager) serveGRPC(s *server) {
	defer m.serving.Done()
	err := s.grpc.srv.Serve(s.ln)
	m.mu.Lock()
	stopping := m.began
	m.mu.Unlock()
	// Serve returns nil after GracefulStop or Stop; an error once the
	// shutdown has begun (a listener closed under it) is part of stopping.
	if err == nil || stopping {
		return
	}
	m.serveFailed(s.name, err)
}

// stop runs GracefulStop until ctx ends, then Stop. Every listener of one
// server calls it; the first does the work and reports the result, the
// others wait for it and report nothing.
func (g *grpcStop) stop(ctx context.Context, name string, start time.Time) error {
	first := false
	g.once.Do(func() {
		first = true
		done := make(chan struct{})
		go func() {
			defer close(done)
			g.srv.GracefulStop()
		}()
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		g.srv.Stop() // GracefulStop returns once Stop has closed everything
		<-done
		g.err = fmt.Errorf("shutdown: gRPC server %s stopped with RPCs in flight after %v: %w", name, time.Since(start), ctx.Err())
	})
	if !first {
		return nil
	}
	return g.err
}
