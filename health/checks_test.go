package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/prodready/prodready/tracing"
)

// tcpPinger pings by opening a TCP connection to a real server, as a
// database driver's PingContext does.
type tcpPinger struct{ addr string }

func (p tcpPinger) PingContext(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// listener returns the address of a live TCP listener and of a port on
// which nothing listens any more.
func listener(t *testing.T) (live, closed string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed = gone.Addr().String()
	_ = gone.Close()
	return l.Addr().String(), closed
}

func TestBuiltinChecks(t *testing.T) {
	live, closed := listener(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("fine"))
		case "/down":
			http.Error(w, "db\x00 is down\n", http.StatusServiceUnavailable)
		case "/slow":
			<-r.Context().Done()
		case "/moved":
			http.Redirect(w, r, "/down", http.StatusFound)
		}
	}))
	defer srv.Close()
	client := srv.Client()
	tests := []struct {
		name    string
		check   Check
		wantErr error  // nil: must pass
		wantMsg string // a part of the error text
	}{
		{"ping live", PingContext(tcpPinger{live}), nil, ""},
		{"ping closed port", PingContext(tcpPinger{closed}), nil, "connection refused"},
		{"ping nil", PingContext(nil), ErrInvalidCheck, "nil Pinger"},
		{"dial live", Dial("tcp", live), nil, ""},
		{"dial closed port", Dial("tcp", closed), nil, "connection refused"},
		{"dial bad network", Dial("nope", live), nil, "unknown network"},
		{"get 200", HTTPGet(client, srv.URL+"/ok"), nil, ""},
		{"get 503", HTTPGet(client, srv.URL+"/down"), ErrStatus, "503 Service Unavailable: db is down"},
		{"get follows redirect", HTTPGet(client, srv.URL+"/moved"), ErrStatus, "503"},
		{"get nil client", HTTPGet(nil, srv.URL+"/ok"), nil, ""},
		{"get times out", HTTPGet(client, srv.URL+"/slow"), context.DeadlineExceeded, ""},
		{"get bad URL", HTTPGet(client, "::"), nil, "missing protocol scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			wantError(t, tt.check(ctx), tt.wantErr, tt.wantMsg)
		})
	}
}

// A built-in check that cannot answer fails within its Timeout when run
// by a Checker: a TCP server that accepts nothing and never answers.
func TestBuiltinTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	// Accepts connections (the kernel does) but never speaks HTTP.
	c := New(quiet(), ShowReasons(true))
	c.AddReadiness("api", HTTPGet(&http.Client{}, "http://"+l.Addr().String()+"/"), Timeout(100*time.Millisecond))
	start := time.Now()
	code, b := probe(t, mounted(c), "/readyz")
	if took := time.Since(start); took > raceSlack*500*time.Millisecond {
		t.Errorf("probe took %v, want about the 100ms timeout", took)
	}
	if code != 503 || !strings.HasPrefix(b.Checks["api"][0].Output, "health: check timed out after 100ms") {
		t.Errorf("got %d %+v", code, b)
	}
}

func TestProbe(t *testing.T) {
	_, closed := listener(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.WriteHeader(http.StatusNoContent)
		case "/down":
			w.Header().Set("Content-Type", mediaType)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"fail"}` + strings.Repeat(" ", 1<<20)))
		case "/moved":
			http.Redirect(w, r, "/readyz", http.StatusMovedPermanently)
		case "/slow":
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		url     string
		timeout time.Duration // 0: Probe's own default
		wantErr error
		wantMsg string
	}{
		{"2xx", srv.URL + "/readyz", 0, nil, ""},
		{"503 says so", srv.URL + "/down", 0, ErrStatus, `503 Service Unavailable: {"status":"fail"}`},
		{"no redirects", srv.URL + "/moved", 0, ErrStatus, "301 Moved Permanently"},
		{"closed port", "http://" + closed + "/readyz", 0, nil, "connection refused"},
		{"deadline", srv.URL + "/slow", 100 * time.Millisecond, context.DeadlineExceeded, ""},
		{"not HTTP", "ftp://example.com/", 0, nil, "must start with http://"},
		{"no scheme", "localhost:9090/readyz", 0, nil, "must start with http://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			wantError(t, Probe(ctx, tt.url), tt.wantErr, tt.wantMsg)
		})
	}
}

// Probe ignores HTTP_PROXY: a proxy that refuses everything would
// otherwise fail the probe. (Go never proxies localhost, so the target is
// the host's non-loopback name when it has one.)
func TestProbeNoProxy(t *testing.T) {
	var proxied atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Store(true)
		http.Error(w, "proxy says no", http.StatusForbidden)
	}))
	defer proxy.Close()
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	ip := outboundIP(t)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	_, port, _ := net.SplitHostPort(l.Addr().String())
	if err := Probe(t.Context(), "http://"+net.JoinHostPort(ip, port)+"/readyz"); err != nil || proxied.Load() {
		t.Errorf("err = %v, proxied = %v; want a direct, passing probe", err, proxied.Load())
	}
}

// outboundIP returns a non-loopback address of this host.
func outboundIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address to probe without the loopback exemption")
	return ""
}

// wantError checks err against a table row: no error when neither a
// sentinel nor a message is wanted; otherwise an error that wraps want
// (when given) and whose text contains msg.
func wantError(t *testing.T, err, want error, msg string) {
	t.Helper()
	if want == nil && msg == "" {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatal("err = nil, want an error")
	}
	if want != nil && !errors.Is(err, want) {
		t.Errorf("err = %v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("err = %q, want it to contain %q", err, msg)
	}
}

// TestHTTPGetHidesCredentials: credentials in a check's URL, as user-info
// (a password, or a token as the username) or in the query, appear in no
// error the check returns, whichever way it fails; the error still names
// where it went.
func TestHTTPGetHidesCredentials(t *testing.T) {
	const secret = "s3cr3t-T0ken"
	_, closed := listener(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/down":
			http.Error(w, "down", http.StatusServiceUnavailable)
		case "/moved":
			http.Redirect(w, r, "http://user:"+secret+"@"+closed+"/elsewhere?key="+secret, http.StatusFound)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name, url, wantMsg string
	}{
		{"password, status", "http://user:" + secret + "@" + host + "/down", "GET http://***@" + host + "/down: 503"},
		{"token as user, status", "http://" + secret + "@" + host + "/down", "GET http://***@" + host + "/down: 503"},
		{"query, status", "http://" + host + "/down?key=" + secret, "GET http://" + host + "/down?***: 503"},
		{"password, refused", "http://user:" + secret + "@" + closed + "/readyz", "connection refused"},
		{"token as user, refused", "http://" + secret + "@" + closed + "/readyz", "connection refused"},
		{"query, refused", "http://" + closed + "/readyz?key=" + secret, "/readyz?***"},
		{"redirected to credentials", srv.URL + "/moved", "/elsewhere?***"},
		{"password with / (unparsable)", "http://user:" + secret[:4] + "/" + secret[4:] + "@" + host + "/down", "invalid URL"},
		{"password with / (parsable)", "http://" + secret[:4] + "/" + secret[4:] + "@" + host + "/down", "not shown"},
		{"bad escape in query", "http://" + host + "/down?key=" + secret + "%zz", "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := HTTPGet(srv.Client(), tt.url)(t.Context())
			if err == nil {
				t.Fatal("check passed, want a failure")
			}
			for _, piece := range []string{secret, secret[:6], secret[len(secret)-6:]} {
				if strings.Contains(err.Error(), piece) {
					t.Errorf("error shows %q: %v", piece, err)
				}
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
	t.Run("Probe", func(t *testing.T) {
		err := Probe(t.Context(), "ftp://user:"+secret+"@"+host)
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("Probe error %v", err)
		}
	})
}

// TestHTTPGetOutOfTraces: a check runs where no span is current, so a
// client with tracing.Transport starts a new root trace at every run; the
// client HTTPGet makes for nil (or any client without tracing.Transport)
// makes no span and sends no traceparent.
func TestHTTPGetOutOfTraces(t *testing.T) {
	var traceparents atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Traceparent") != "" {
			traceparents.Add(1)
		}
	}))
	defer srv.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	traced := &http.Client{Transport: tracing.Transport(srv.Client().Transport,
		tracing.TracerProvider(tp), tracing.Propagator(propagation.TraceContext{}))}

	const runs = 3
	for range runs {
		if err := HTTPGet(traced, srv.URL)(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	traces := map[string]bool{}
	for _, s := range rec.Ended() {
		if s.Parent().IsValid() {
			t.Errorf("span %q has a parent; a check has none", s.Name())
		}
		traces[s.SpanContext().TraceID().String()] = true
	}
	if len(traces) != runs || traceparents.Load() != runs {
		t.Fatalf("%d traces and %d traceparents for %d runs through a traced client: the test no longer shows why checks need a plain one",
			len(traces), traceparents.Load(), runs)
	}

	before := len(rec.Ended())
	traceparents.Store(0)
	for range runs {
		if err := HTTPGet(nil, srv.URL)(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(rec.Ended()) - before; n != 0 || traceparents.Load() != 0 {
		t.Errorf("HTTPGet(nil, …) made %d spans and sent %d traceparents, want none", n, traceparents.Load())
	}
}
