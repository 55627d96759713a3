//go:build unix

package integration_test

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
	dbRole          = "orders"
	dbFirstPassword = "first-password"
)

// Short intervals so that the suite is quick; the defaults are production's.
const (
	checkInterval = 200 * time.Millisecond
	checkTimeout  = time.Second
	readyWithin   = 20 * time.Second
)

// stackOptions changes how startStack runs the services.
type stackOptions struct {
	otlp       *otlptest.Receiver // receives both services' spans; nil: none exported
	drainDelay time.Duration      // orders' SHUTDOWN_DRAIN_DELAY
	ordersEnv  []string           // more variables for orders
}

// stack is a private Postgres, catalog and orders, as real processes,
// ready to serve.
type stack struct {
	pg        *pgtest.Server
	secretDir string

	catalog, orders          *proc
	catalogURL, catalogAdmin string
	ordersURL, ordersAdmin   string
	client                   *http.Client
}

func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	s := &stack{pg: pgtest.Start(t), secretDir: t.TempDir(), client: newClient(t, 10*time.Second)}
	s.pg.Exec(t, `CREATE ROLE `+dbRole+` LOGIN PASSWORD '`+dbFirstPassword+`';
		CREATE DATABASE orders OWNER `+dbRole+`;`)
	passwordFile := writeSecret(t, s.secretDir, "password", dbFirstPassword+"\n")

	catalogAddr, catalogAdmin := freeAddr(t), freeAddr(t)
	ordersAddr, ordersAdmin := freeAddr(t), freeAddr(t)
	s.catalogURL, s.catalogAdmin = "http://"+catalogAddr, "http://"+catalogAdmin
	s.ordersURL, s.ordersAdmin = "http://"+ordersAddr, "http://"+ordersAdmin

	var otel []string
	if o.otlp != nil {
		otel = []string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=" + o.otlp.Endpoint(),
			"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			"OTEL_BSP_SCHEDULE_DELAY=100",
		}
	}
	catalogEnv := append([]string{
		"HTTP_ADDR=" + catalogAddr,
		"ADMIN_ADDR=" + catalogAdmin,
		"SHUTDOWN_DRAIN_DELAY=0s",
	}, otel...)
	ordersEnv := append([]string{
		"HTTP_ADDR=" + ordersAddr,
		"ADMIN_ADDR=" + ordersAdmin,
		"SHUTDOWN_DRAIN_DELAY=" + o.drainDelay.String(),
		"SHUTDOWN_TIMEOUT=15s",
		"DATABASE_URL=" + s.pg.DSN("orders", dbRole, ""),
		"DATABASE_PASSWORD_FILE=" + passwordFile,
		"CATALOG_URL=" + s.catalogURL,
		"CATALOG_READY_URL=" + s.catalogAdmin + "/readyz",
		"HEALTH_CHECK_INTERVAL=" + checkInterval.String(),
		"HEALTH_CHECK_TIMEOUT=" + checkTimeout.String(),
	}, otel...)
	ordersEnv = append(ordersEnv, o.ordersEnv...)

	if code, out := run(t, bin.orders, ordersEnv, "migrate"); code != 0 {
		t.Fatalf("orders migrate: exit %d\n%s", code, out)
	}
	s.catalog = start(t, "catalog", bin.catalog, catalogEnv)
	s.orders = start(t, "orders", bin.orders, ordersEnv)
	waitStatus(t, s.client, s.catalogAdmin+"/readyz", http.StatusOK, readyWithin)
	waitStatus(t, s.client, s.ordersAdmin+"/readyz", http.StatusOK, readyWithin)
	return s
}

// order is the body orders answers with.
type order struct {
	ID             int64  `json:"id"`
	ProductID      string `json:"product_id"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	TotalCents     int64  `json:"total_cents"`
}

// errorBody is the body of every error answer.
type errorBody struct {
	Error         string `json:"error"`
	CorrelationID string `json:"correlation_id"`
}

// response is one answer, its body still raw.
type response struct {
	status int
	header http.Header
	body   []byte
}

// send sends a request to orders and fails the test only when no answer
// came at all.
func (s *stack) send(t testing.TB, method, path string, header http.Header, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.ordersURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf strings.Builder
	if _, err := copyLimited(&buf, resp.Body); err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, []byte(buf.String())}
}

// decode unmarshals the body into v, failing the test when it is not JSON.
func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d, body is not the JSON expected: %v: %s", r.status, err, r.body)
	}
}

// linesWith returns every log line of p that carries the correlation ID.
func linesWith(p *proc, correlationID string) []map[string]any {
	var out []map[string]any
	for _, l := range p.Logs() {
		if l["correlation_id"] == correlationID {
			out = append(out, l)
		}
	}
	return out
}
