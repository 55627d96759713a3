package grpcx_test

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/grpcx"
)

func seriesCount(t *testing.T, g interface {
	Gather() ([]*dto.MetricFamily, error)
}) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	return n
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// A message over the documented limit is refused with ResourceExhausted,
// in one access line, and the server serves on.
func TestOversizedMessage(t *testing.T) {
	e := newEnv(t, grpcx.MaxRecvMsgSize(1<<20))
	big := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: make([]byte, 1<<20+1)}}
	if _, err := e.client.UnaryCall(t.Context(), big); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a message over the limit: %v, want ResourceExhausted", err)
	}
	line := e.line(t, "/UnaryCall")
	if line["code"] != "ResourceExhausted" {
		t.Fatalf("access line %v", line)
	}
	waitCounter(t, e.reg, "grpc_server_handled_total", labels("unary", svc, "UnaryCall", "ResourceExhausted"), 1)
	// The client side has its limit too: an answer over it is refused.
	small := testpb.NewTestServiceClient(e.dial(t, grpcx.MaxRecvMsgSize(1<<10)))
	if _, err := small.UnaryCall(t.Context(), &testpb.SimpleRequest{ResponseSize: 2 << 10}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("an answer over the client's limit: %v, want ResourceExhausted", err)
	}
	if _, err := e.client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil {
		t.Fatalf("after the refusals: %v", err)
	}
}

// Unknown methods are answered Unimplemented, logged, and counted under
// one set of unknown labels however many there are.
func TestUnknownMethods(t *testing.T) {
	e := newEnv(t)
	if err := e.conn.Invoke(t.Context(), "/scan.Service/First", &testpb.Empty{}, &testpb.Empty{}); status.Code(err) != codes.Unimplemented {
		t.Fatal(err)
	}
	waitCounter(t, e.reg, "grpc_server_handled_total", labels("unknown", "unknown", "unknown", "Unimplemented"), 1)
	before := seriesCount(t, e.reg)
	const n = 200
	for i := range n - 1 {
		method := "/scan.Service" + strings.Repeat("x", i) + "/Method"
		err := e.conn.Invoke(t.Context(), method, &testpb.Empty{}, &testpb.Empty{})
		if status.Code(err) != codes.Unimplemented {
			t.Fatalf("%s: %v, want Unimplemented", method, err)
		}
	}
	waitCounter(t, e.reg, "grpc_server_handled_total", labels("unknown", "unknown", "unknown", "Unimplemented"), n)
	waitCounter(t, e.reg, "grpc_server_started_total", labels("unknown", "unknown", "unknown"), n)
	if after := seriesCount(t, e.reg); after != before {
		t.Errorf("%d series after one unknown method, %d after %d", before, after, n)
	}
	line := e.line(t, "/scan.Service/Method")
	if line["code"] != "Unimplemented" || line["level"] != "warn" {
		t.Fatalf("access line %v", line)
	}
	if got := len(e.log.JSON(t)); got != n {
		t.Fatalf("%d access lines for %d RPCs", got, n)
	}
}

func TestCorrelationIDs(t *testing.T) {
	tests := []struct {
		name string
		md   metadata.MD
		want string // "" means a new UUIDv7
	}{
		{"kept", metadata.Pairs("x-correlation-id", "abc-123"), "abc-123"},
		{"x-request-id when no correlation ID", metadata.Pairs("x-request-id", "req.7"), "req.7"},
		{"10 KB", metadata.Pairs("x-correlation-id", strings.Repeat("a", 10<<10)), ""},
		{"129 characters", metadata.Pairs("x-correlation-id", strings.Repeat("a", 129)), ""},
		{"spaces and quotes", metadata.Pairs("x-correlation-id", `a "b" c`), ""},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := metadata.NewOutgoingContext(t.Context(), tt.md)
			var hdr metadata.MD
			if _, err := e.client.UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.Header(&hdr)); err != nil {
				t.Fatal(err)
			}
			got := hdr.Get("x-correlation-id")
			if len(got) != 1 || (tt.want != "" && got[0] != tt.want) || (tt.want == "" && !uuidV7.MatchString(got[0])) {
				t.Fatalf("x-correlation-id sent back = %q, want %q (empty: a new UUIDv7)", got, tt.want)
			}
			line := e.line(t, "/UnaryCall")
			if line["correlation_id"] != got[0] {
				t.Fatalf("access line correlation_id = %v, sent back %s", line["correlation_id"], got[0])
			}
			if len(e.log.String()) > 4<<10 {
				t.Fatalf("the access line is %d bytes", len(e.log.String()))
			}
		})
	}
}

// gRPC's client refuses to send a metadata value with a newline, so this
// one is written by hand over HTTP/2. gRPC's server refuses it before any
// handler runs (RST_STREAM PROTOCOL_ERROR, as HTTP/2 requires for an
// invalid field value): nothing of it reaches the log, and the server
// serves on.
func TestCorrelationIDWithNewline(t *testing.T) {
	e := newEnv(t)
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", "/" + svc + "/UnaryCall"}, {":authority", e.addr},
		{"content-type", "application/grpc"}, {"te", "trailers"},
		{"x-correlation-id", "evil\r\n{\"level\":\"fatal\"}"},
	} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteData(1, true, []byte{0, 0, 0, 0, 0}); err != nil { // an empty SimpleRequest
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		if f, ok := f.(*http2.SettingsFrame); ok && !f.IsAck() {
			_ = fr.WriteSettingsAck()
		}
		if _, ok := f.(*http2.MetaHeadersFrame); ok {
			t.Fatal("the server answered a request with a newline in its metadata")
		}
		if f, ok := f.(*http2.RSTStreamFrame); ok {
			if f.ErrCode != http2.ErrCodeProtocol {
				t.Fatalf("RST_STREAM %v, want PROTOCOL_ERROR", f.ErrCode)
			}
			break
		}
	}
	if _, err := e.client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil {
		t.Fatalf("after the bad request: %v", err)
	}
	e.line(t, "/UnaryCall")
	if lines := e.log.JSON(t); len(lines) != 1 || strings.Contains(e.log.String(), "evil") {
		t.Fatalf("want only the good request's line:\n%s", e.log)
	}
}

// A client that opens a stream and never reads: the server's sends block
// on flow control (bounded memory), and when the client leaves the
// handler returns, the RPC is logged as client_gone, and nothing leaks
// (goleak in TestMain).
func TestClientNeverReads(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := testpb.NewTestServiceClient(conn).StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{
		Payload: &testpb.Payload{Body: []byte("flood")}})
	if err != nil {
		t.Fatal(err)
	}
	_ = stream
	// Long enough for an unbounded sender to send hundreds of MB.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) && e.svc.flooded.Load() == 0 {
		time.Sleep(time.Millisecond) // until the first send
	}
	time.Sleep(300 * time.Millisecond) // the measurement window
	sent := e.svc.flooded.Load()
	const limit = 32 << 20 // flow-control windows (BDP can grow them to 16 MiB) plus transport buffers
	if bytes := sent * 64 << 10; bytes == 0 || bytes > limit {
		t.Fatalf("the server sent %d bytes to a client that reads nothing, want 0 < sent <= %d", bytes, limit)
	}
	cancel()
	select {
	case err := <-e.svc.floodDone:
		if status.Code(err) != codes.Canceled {
			t.Fatalf("the blocked Send returned %v, want Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still blocks in Send after the client left")
	}
	line := e.line(t, "/StreamingOutputCall")
	if line["code"] != "Canceled" || line["error_type"] != "client_gone" {
		t.Fatalf("access line %v", line)
	}
	t.Logf("sent %d messages of 64 KiB before blocking", sent)
}
