package shutdown_test

import (
	"fmt"
	"log/slog"
	"net"

	"google.golang.org/grpc"

	"github.com/prodready/prodready/shutdown"
)

// A gRPC server is served and stopped like an HTTP one. Serve a
// grpcx.Server rather than a bare *grpc.Server when it has streams: its
// GracefulStop ends them, so an open stream cannot hold the shutdown to
// its deadline.
func ExampleManager_ServeGRPC() {
	sd := shutdown.New(shutdown.Signals(), shutdown.DrainDelay(0), shutdown.Logger(slog.New(slog.DiscardHandler)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	sd.ServeGRPC(grpc.NewServer(), ln)
	sd.Trigger(nil) // SIGTERM in a real service
	fmt.Println(sd.Wait())
	// Output: <nil>
}
