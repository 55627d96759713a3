package grpcx_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/keepalive"

	"github.com/prodready/prodready/grpcx"
	"github.com/prodready/prodready/internal/testenv"
)

// idleDials runs a grpcx server (with extra server options) and a grpcx
// client over an in-memory network in a synctest bubble, leaves the
// connection idle for idle after one RPC, makes a second RPC and returns
// how many connections the client dialled.
func idleDials(t *testing.T, idle time.Duration, extra ...grpc.ServerOption) int64 {
	var dials atomic.Int64
	synctest.Test(t, func(t *testing.T) {
		pn := testenv.NewPipeNet()
		srv, err := grpcx.NewServer(grpcx.ServerOptions(extra...))
		if err != nil {
			t.Fatal(err)
		}
		testpb.RegisterTestServiceServer(srv, &testService{})
		served := make(chan error, 1)
		go func() { served <- srv.Serve(pn) }()
		dial := func(ctx context.Context, addr string) (net.Conn, error) {
			dials.Add(1)
			return pn.Dial(ctx, "pipe", addr)
		}
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dial)}
		conn, err := grpcx.NewClient("passthrough:///pipe", grpcx.DialOptions(opts...))
		if err != nil {
			t.Fatal(err)
		}
		client := testpb.NewTestServiceClient(conn)
		if _, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(idle)
		if _, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil {
			t.Fatal(err)
		}
		_ = conn.Close()
		srv.Stop()
		<-served
		synctest.Wait()
	})
	return dials.Load()
}

// Our client's keepalive pings agree with our server's enforcement: four
// idle minutes of pings (under the 5-minute connection age) keep the one
// connection. The control: the same client against gRPC's default
// enforcement (pings at most every 5 minutes, none without a stream), the
// mismatch behind thanos#8799, is sent GOAWAY "too_many_pings" and has to
// dial again.
func TestKeepaliveAgrees(t *testing.T) {
	if grpcx.ClientPingInterval < grpcx.MinPingInterval {
		t.Fatalf("ClientPingInterval %v below the server's MinPingInterval %v", grpcx.ClientPingInterval, grpcx.MinPingInterval)
	}
	if n := idleDials(t, 4*time.Minute); n != 1 {
		t.Errorf("our client dialled %d times over 4 idle minutes, want 1: its pings were refused", n)
	}
	grpcDefault := grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Minute})
	if n := idleDials(t, 4*time.Minute, grpcDefault); n < 2 {
		t.Errorf("control: against gRPC's default enforcement our client dialled %d times, want a second connection after GOAWAY too_many_pings", n)
	}
}

// After DefaultMaxConnectionAge (±10% jitter) and its grace the server
// asks the client to reconnect, so long-lived connections spread to new
// pods: six idle minutes, then a call, take a second connection.
func TestMaxConnectionAgeRecycles(t *testing.T) {
	if n := idleDials(t, grpcx.DefaultMaxConnectionAge*11/10+grpcx.DefaultMaxConnectionAgeGrace+time.Second); n != 2 {
		t.Errorf("the client dialled %d times across the connection age, want 2", n)
	}
}
