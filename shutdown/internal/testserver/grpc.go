package main

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/shutdown"
)

// endingServer is a *grpc.Server whose GracefulStop ends the contexts of
// open streams first.
type endingServer struct {
	*grpc.Server
	end context.CancelFunc
}

func (s endingServer) GracefulStop() { s.end(); s.Server.GracefulStop() }

// serveGRPC serves grpc-go's health service through sd on a loopback
// port and returns its address.
func serveGRPC(sd *shutdown.Manager, mode string) (string, error) {
	var srv shutdown.GRPCServer
	switch mode {
	case "hold":
		g := grpc.NewServer()
		healthpb.RegisterHealthServer(g, health.NewServer())
		srv = g
	case "end":
		ended, end := context.WithCancel(context.Background())
		g := grpc.NewServer(grpc.StreamInterceptor(func(s any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			done := make(chan error, 1)
			go func() { done <- h(s, ss) }()
			select {
			case err := <-done:
				return err
			case <-ended.Done():
				return status.Error(codes.Unavailable, "server stopping")
			}
		}))
		healthpb.RegisterHealthServer(g, health.NewServer())
		srv = endingServer{g, end}
	default:
		return "", fmt.Errorf("-grpc %q: want hold or end", mode)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	sd.ServeGRPC(srv, ln)
	return ln.Addr().String(), nil
}
