//go:build unix

package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prodready/prodready/internal/otlptest"
	"github.com/prodready/prodready/internal/pgtest"
)

// The role orders connects as, and its first password.
const (
	DBRole          = "orders"
	DBFirstPassword = "first-password"
)

// Short intervals so that the suites are quick; the defaults are
// production's.
const (
	CheckInterval = 200 * time.Millisecond
	CheckTimeout  = time.Second
	ReadyWithin   = 20 * time.Second
)

// StackOptions changes how StartStack runs the services.
type StackOptions struct {
	OTLP       *otlptest.Receiver // receives both services' spans; nil: none exported
	DrainDelay time.Duration      // orders' SHUTDOWN_DRAIN_DELAY
	OrdersEnv  []string           // more variables for orders
	CatalogEnv []string           // more variables for catalog
	// CatalogOverGRPC: orders looks products up over gRPC
	// (CATALOG_GRPC_ADDR) instead of catalog's HTTP port.
	CatalogOverGRPC bool
}

// Stack is a private Postgres, catalog and orders, as real processes,
// ready to serve.
type Stack struct {
	PG        *pgtest.Server
	SecretDir string // holds orders' password file, kubelet style
	// PasswordFile is orders' DATABASE_PASSWORD_FILE.
	PasswordFile string

	Catalog, Orders *Proc
	// OrdersEnviron is every variable orders was started with: a second
	// instance is started with it and its own addresses.
	OrdersEnviron            []string
	CatalogURL, CatalogAdmin string
	CatalogGRPC              string // catalog's gRPC address, host:port
	OrdersURL, OrdersAdmin   string
	Client                   *http.Client
}

// StartStack starts Postgres with orders' role and database, migrates,
// starts catalog and orders from bin, and waits until both are ready.
func StartStack(t *testing.T, bin Binaries, o StackOptions) *Stack {
	t.Helper()
	s := &Stack{PG: pgtest.Start(t), SecretDir: t.TempDir(), Client: NewClient(t, 10*time.Second)}
	s.PG.Exec(t, `CREATE ROLE `+DBRole+` LOGIN PASSWORD '`+DBFirstPassword+`';
		CREATE DATABASE orders OWNER `+DBRole+`;`)
	s.PasswordFile = WriteSecret(t, s.SecretDir, "password", DBFirstPassword+"\n")

	catalogAddr, catalogAdmin := FreeAddr(t), FreeAddr(t)
	s.CatalogGRPC = FreeAddr(t)
	ordersAddr, ordersAdmin := FreeAddr(t), FreeAddr(t)
	s.CatalogURL, s.CatalogAdmin = "http://"+catalogAddr, "http://"+catalogAdmin
	s.OrdersURL, s.OrdersAdmin = "http://"+ordersAddr, "http://"+ordersAdmin

	var otel []string
	if o.OTLP != nil {
		otel = []string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=" + o.OTLP.Endpoint(),
			"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			"OTEL_BSP_SCHEDULE_DELAY=100",
		}
	}
	catalogEnv := append([]string{
		"HTTP_ADDR=" + catalogAddr,
		"ADMIN_ADDR=" + catalogAdmin,
		"GRPC_ADDR=" + s.CatalogGRPC,
		"SHUTDOWN_DRAIN_DELAY=0s",
	}, otel...)
	catalogEnv = append(catalogEnv, o.CatalogEnv...)
	ordersEnv := append([]string{
		"HTTP_ADDR=" + ordersAddr,
		"ADMIN_ADDR=" + ordersAdmin,
		"SHUTDOWN_DRAIN_DELAY=" + o.DrainDelay.String(),
		"SHUTDOWN_TIMEOUT=15s",
		"DATABASE_URL=" + s.PG.DSN("orders", DBRole, ""),
		"DATABASE_PASSWORD_FILE=" + s.PasswordFile,
		"CATALOG_URL=" + s.CatalogURL,
		"CATALOG_READY_URL=" + s.CatalogAdmin + "/readyz",
		"HEALTH_CHECK_INTERVAL=" + CheckInterval.String(),
		"HEALTH_CHECK_TIMEOUT=" + CheckTimeout.String(),
	}, otel...)
	if o.CatalogOverGRPC {
		ordersEnv = append(ordersEnv, "CATALOG_GRPC_ADDR="+s.CatalogGRPC)
	}
	ordersEnv = append(ordersEnv, o.OrdersEnv...)
	s.OrdersEnviron = ordersEnv

	if code, out := Run(t, bin.Orders, ordersEnv, "migrate"); code != 0 {
		t.Fatalf("orders migrate: exit %d\n%s", code, out)
	}
	s.Catalog = Start(t, "catalog", bin.Catalog, catalogEnv)
	s.Orders = Start(t, "orders", bin.Orders, ordersEnv)
	WaitStatus(t, s.Client, s.CatalogAdmin+"/readyz", http.StatusOK, ReadyWithin)
	WaitStatus(t, s.Client, s.OrdersAdmin+"/readyz", http.StatusOK, ReadyWithin)
	return s
}

// Order is the body orders answers with.
type Order struct {
	ID             int64  `json:"id"`
	ProductID      string `json:"product_id"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	TotalCents     int64  `json:"total_cents"`
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error         string `json:"error"`
	CorrelationID string `json:"correlation_id"`
}

// Response is one answer, its body still raw.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Send sends a request to orders and fails the test only when no answer
// came at all.
func (s *Stack) Send(t testing.TB, method, path string, header http.Header, body string) Response {
	t.Helper()
	req, err := http.NewRequest(method, s.OrdersURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf strings.Builder
	if _, err := CopyLimited(&buf, resp.Body); err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return Response{resp.StatusCode, resp.Header, []byte(buf.String())}
}

// Decode unmarshals the body into v, failing the test when it is not JSON.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("status %d, body is not the JSON expected: %v: %s", r.Status, err, r.Body)
	}
}

// LinesWith returns every log line of p that carries the correlation ID.
func LinesWith(p *Proc, correlationID string) []map[string]any {
	var out []map[string]any
	for _, l := range p.Logs() {
		if l["correlation_id"] == correlationID {
			out = append(out, l)
		}
	}
	return out
}
