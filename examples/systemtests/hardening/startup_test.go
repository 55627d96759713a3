//go:build linux

package hardening_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// credential is a known secret put into the services' configuration.
const credential = "s3cr3t-St4rtup-Pw"

// noCredential fails the test when out shows the credential or a piece of
// it long enough to matter.
func noCredential(t *testing.T, what, out string) {
	t.Helper()
	for _, piece := range []string{credential, credential[:7], credential[len(credential)-7:]} {
		if strings.Contains(out, piece) {
			t.Errorf("%s shows %q:\n%s", what, piece, out)
		}
	}
}

// TestStartupFailuresHideCredentials starts each service with a setting
// that holds a credential and is wrong, so the start fails: the service
// exits 1 saying which setting, and neither stdout nor stderr shows the
// credential.
func TestStartupFailuresHideCredentials(t *testing.T) {
	tests := []struct {
		name     string
		service  string // "orders" or "catalog"
		env      []string
		wantSays string // part of the error on stderr
	}{
		{"DATABASE_URL with a password, bad port", "orders", []string{"DATABASE_URL=postgres://orders:" + credential + "@localhost:notaport/orders"}, "DATABASE_URL"},
		{"DATABASE_URL with a password, unparsable", "orders", []string{"DATABASE_URL=postgres://orders:" + credential + "@[::1/orders"}, "DATABASE_URL"},
		{"DATABASE_URL, password with an unescaped @", "orders", []string{"DATABASE_URL=postgres://orders:" + credential[:8] + "@" + credential[8:] + "@localhost:notaport/orders"}, "DATABASE_URL"},
		{"DATABASE_URL, password with an unescaped /", "orders", []string{"DATABASE_URL=postgres://orders:" + credential[:8] + "/" + credential[8:] + "@localhost:notaport/orders"}, "DATABASE_URL"},
		{"DATABASE_URL keyword form", "orders", []string{"DATABASE_URL=host=localhost port=notaport password=" + credential}, "DATABASE_URL"},
		{"OTLP headers written as HTTP", "orders", []string{"OTEL_EXPORTER_OTLP_HEADERS=Authorization: Bearer " + credential}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"OTLP header with a bad escape", "catalog", []string{"OTEL_EXPORTER_OTLP_HEADERS=api-key=" + credential + "%zz"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"OTLP endpoint with user-info", "catalog", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://otel:" + credential + "@collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"OTLP traces endpoint unparsable", "catalog", []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://" + credential + "@[::1/v1/traces"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			binary := bin.checked.Orders
			if tt.service == "catalog" {
				binary = bin.checked.Catalog
			}
			env := append([]string{"HTTP_ADDR=127.0.0.1:0", "ADMIN_ADDR=127.0.0.1:0", "GRPC_ADDR=127.0.0.1:0", "SHUTDOWN_DRAIN_DELAY=0s"}, tt.env...)
			p := e2e.Start(t, tt.service, binary, env)
			if code := p.Exit(30 * time.Second); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(p.Stderr(), tt.wantSays) {
				t.Errorf("stderr %q does not name %s", p.Stderr(), tt.wantSays)
			}
			noCredential(t, "stderr", p.Stderr())
			noCredential(t, "stdout", strings.Join(p.Lines(), "\n"))
		})
	}
}

// TestRuntimeFailuresHideCredentials runs orders with credentials in the
// URLs it reaches at run time (catalog's readiness as a token user, the
// database with a password), neither of which answers: the readiness
// failures are logged, and no line shows the credential, to the end of a
// graceful shutdown.
func TestRuntimeFailuresHideCredentials(t *testing.T) {
	closed := e2e.FreeAddr(t) // nothing listens there
	p := e2e.Start(t, "orders", bin.checked.Orders, []string{
		"HTTP_ADDR=" + e2e.FreeAddr(t), "ADMIN_ADDR=" + e2e.FreeAddr(t), "SHUTDOWN_DRAIN_DELAY=0s",
		"HEALTH_CHECK_INTERVAL=50ms", "LOG_LEVEL=debug",
		"DATABASE_URL=postgres://orders:" + credential + "@" + closed + "/orders?sslmode=disable",
		"CATALOG_READY_URL=http://" + credential + "@" + closed + "/readyz?key=" + credential,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, check := range []string{"postgres", "catalog"} {
		if _, err := p.WaitLog(ctx, func(l map[string]any) bool { return l["msg"] == "health check failed" && l["check"] == check }); err != nil {
			t.Fatalf("no failure of the %s check logged: %v", check, err)
		}
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Exit(30 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	noCredential(t, "stderr", p.Stderr())
	noCredential(t, "stdout", strings.Join(p.Lines(), "\n"))
}

// TestPortInUse: either port already taken, each service exits 1 with one
// clear line on stderr naming the address, and logs nothing misleading:
// no error-level line, no stack trace, no "too late" about a shutdown
// that never had anything to stop.
func TestPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, service := range []string{"catalog", "orders"} {
		for _, port := range []string{"HTTP_ADDR", "ADMIN_ADDR", "GRPC_ADDR"} {
			if port == "GRPC_ADDR" && service == "orders" {
				continue // orders serves no gRPC
			}
			t.Run(service+" "+port, func(t *testing.T) {
				binary := bin.checked.Orders
				if service == "catalog" {
					binary = bin.checked.Catalog
				}
				env := []string{"HTTP_ADDR=127.0.0.1:0", "ADMIN_ADDR=127.0.0.1:0", "GRPC_ADDR=127.0.0.1:0", port + "=" + taken.Addr().String()}
				p := e2e.Start(t, service, binary, env)
				if code := p.Exit(30 * time.Second); code != 1 {
					t.Errorf("exit %d, want 1", code)
				}
				want := service + ": listen tcp " + taken.Addr().String() + ": bind: address already in use\n"
				if p.Stderr() != want {
					t.Errorf("stderr %q, want %q alone", p.Stderr(), want)
				}
				for _, l := range p.Logs() {
					if l["level"] != "info" || l["stacktrace"] != nil || strings.Contains(fmt.Sprint(l["msg"]), "too late") {
						t.Errorf("misleading line after a start that failed: %v", l)
					}
				}
			})
		}
	}
}
