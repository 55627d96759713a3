package service_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/prodready/prodready/examples/internal/env"
	"github.com/prodready/prodready/examples/internal/service"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    service.Config
		wantErr string
	}{
		{"defaults", nil, service.Config{
			Name: "orders", HTTPAddr: ":8081", AdminAddr: ":9090",
			ShutdownTimeout: 25 * time.Second, DrainDelay: 5 * time.Second,
			ReadHeaderTimeout: service.DefaultReadHeaderTimeout,
		}, ""},
		{"set", map[string]string{ // #nosec G101 -- ADMIN_TOKEN_FILE is a path, not a credential
			"HTTP_ADDR": "127.0.0.1:1", "ADMIN_ADDR": "127.0.0.1:2",
			"SHUTDOWN_TIMEOUT": "10s", "SHUTDOWN_DRAIN_DELAY": "0s",
			"HTTP_READ_HEADER_TIMEOUT": "1s", "ADMIN_TOKEN_FILE": "/run/secrets/admin/token", "PPROF": "true",
		}, service.Config{ // #nosec G101 -- AdminTokenFile is a path, not a credential
			Name: "orders", HTTPAddr: "127.0.0.1:1", AdminAddr: "127.0.0.1:2",
			ShutdownTimeout: 10 * time.Second, ReadHeaderTimeout: time.Second,
			AdminTokenFile: "/run/secrets/admin/token", Pprof: true,
		}, ""},
		{"malformed", map[string]string{"SHUTDOWN_TIMEOUT": "ten", "PPROF": "on"}, service.Config{
			Name: "orders", HTTPAddr: ":8081", AdminAddr: ":9090",
			ShutdownTimeout: 25 * time.Second, DrainDelay: 5 * time.Second,
			ReadHeaderTimeout: service.DefaultReadHeaderTimeout,
		}, "PPROF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env.Reader{Lookup: func(k string) (string, bool) { v, ok := tt.vars[k]; return v, ok }}
			if got := service.FromEnv(&e, "orders", ":8081"); got != tt.want {
				t.Errorf("FromEnv = %+v, want %+v", got, tt.want)
			}
			err := e.Err()
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Err = %v, want one naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestHealthcheck(t *testing.T) {
	var status atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		adminAddr string
		status    int
		wantErr   bool
	}{
		{"ready, all interfaces", ":" + port, http.StatusOK, false},
		{"ready, unspecified IPv4", "0.0.0.0:" + port, http.StatusOK, false},
		{"ready, loopback", "127.0.0.1:" + port, http.StatusOK, false},
		{"not ready", ":" + port, http.StatusServiceUnavailable, true},
		{"malformed address", "9090", http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status.Store(int64(tt.status))
			err := service.Healthcheck(context.Background(), tt.adminAddr)
			if (err != nil) != tt.wantErr {
				t.Errorf("Healthcheck(%q) = %v, want error %v", tt.adminAddr, err, tt.wantErr)
			}
		})
	}
}

func TestNewServer(t *testing.T) {
	tests := []struct {
		name           string
		readHeader     time.Duration
		wantReadHeader time.Duration
	}{
		{"default", 0, service.DefaultReadHeaderTimeout},
		{"set", 300 * time.Millisecond, 300 * time.Millisecond},
		{"negative means default", -time.Second, service.DefaultReadHeaderTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := service.NewServer(":0", http.NotFoundHandler(), tt.readHeader, nil)
			if srv.ReadHeaderTimeout != tt.wantReadHeader {
				t.Errorf("ReadHeaderTimeout %v, want %v", srv.ReadHeaderTimeout, tt.wantReadHeader)
			}
			for name, d := range map[string]time.Duration{"ReadTimeout": srv.ReadTimeout, "WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout} {
				if d <= 0 {
					t.Errorf("%s unset: a client could hold a connection for ever", name)
				}
			}
			if srv.ReadTimeout < srv.ReadHeaderTimeout {
				t.Errorf("ReadTimeout %v < ReadHeaderTimeout %v", srv.ReadTimeout, srv.ReadHeaderTimeout)
			}
			if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes >= http.DefaultMaxHeaderBytes {
				t.Errorf("MaxHeaderBytes %d, want a cap below the 1 MiB default", srv.MaxHeaderBytes)
			}
		})
	}
}

// TestNewServerEndsSlowHeaders: a client that never finishes its headers
// is disconnected at the header timeout.
func TestNewServerEndsSlowHeaders(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv := service.NewServer("", http.NotFoundHandler(), timeout, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(conn) // ends when the server closes the connection
	took := time.Since(start)
	if err != nil {
		t.Fatalf("read: %v (the server did not close the connection)", err)
	}
	if took < timeout || took > timeout+2*time.Second {
		t.Errorf("closed after %v, want about %v", took, timeout)
	}
}

// TestNewClientTimesOut: a peer that accepts and never answers costs the
// client its timeout, not for ever.
func TestNewClientTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c // held open, never answered
		}
		close(accepted)
	}()
	const timeout = 300 * time.Millisecond
	c := service.NewClient(timeout)
	defer c.CloseIdleConnections()
	tr := c.Transport.(*http.Transport)
	if tr.TLSHandshakeTimeout <= 0 || tr.ResponseHeaderTimeout <= 0 || tr.IdleConnTimeout <= 0 || tr.MaxIdleConnsPerHost <= 0 || tr.MaxIdleConns <= 0 {
		t.Errorf("transport with an unbounded phase: %+v", tr)
	}
	start := time.Now()
	resp, err := c.Get("http://" + ln.Addr().String() + "/")
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("a silent peer answered")
	}
	if took := time.Since(start); took < timeout || took > timeout+2*time.Second {
		t.Errorf("gave up after %v, want about %v", took, timeout)
	}
	if conn := <-accepted; conn != nil {
		_ = conn.Close()
	}
}
