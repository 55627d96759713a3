package service_test

import (
	"context"
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
			ReadHeaderTimeout: 5 * time.Second, RequestTimeout: 40 * time.Second,
		}, ""},
		{"set", map[string]string{ // #nosec G101 -- ADMIN_TOKEN_FILE is a path, not a credential
			"HTTP_ADDR": "127.0.0.1:1", "ADMIN_ADDR": "127.0.0.1:2",
			"SHUTDOWN_TIMEOUT": "10s", "SHUTDOWN_DRAIN_DELAY": "0s",
			"HTTP_READ_HEADER_TIMEOUT": "1s", "HTTP_REQUEST_TIMEOUT": "3s", "ADMIN_TOKEN_FILE": "/run/secrets/admin/token", "PPROF": "true",
		}, service.Config{ // #nosec G101 -- AdminTokenFile is a path, not a credential
			Name: "orders", HTTPAddr: "127.0.0.1:1", AdminAddr: "127.0.0.1:2",
			ShutdownTimeout: 10 * time.Second, ReadHeaderTimeout: time.Second, RequestTimeout: 3 * time.Second,
			AdminTokenFile: "/run/secrets/admin/token", Pprof: true,
		}, ""},
		{"malformed", map[string]string{"SHUTDOWN_TIMEOUT": "ten", "PPROF": "on"}, service.Config{
			Name: "orders", HTTPAddr: ":8081", AdminAddr: ":9090",
			ShutdownTimeout: 25 * time.Second, DrainDelay: 5 * time.Second,
			ReadHeaderTimeout: 5 * time.Second, RequestTimeout: 40 * time.Second,
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
