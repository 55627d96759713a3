package main

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/examples/catalog/catalogv1"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"wrapped", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"bad connection", driver.ErrBadConn, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"query canceled", &pgconn.PgError{Code: "57014"}, false},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryable(tt.err); got != tt.want {
				t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestRetryStopsAtTheBound(t *testing.T) {
	tests := []struct {
		name      string
		failFirst int // calls that fail with 57P01 before one succeeds
		wantCalls int
		wantErr   bool
	}{
		{"succeeds at once", 0, 1, false},
		{"one dead connection", 1, 2, false},
		{"every pooled connection dead", maxConns, maxConns + 1, false},
		{"never succeeds", 1 << 10, attempts, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := (&database{}).retry(t.Context(), func(context.Context) error {
				calls++
				if calls <= tt.failFirst {
					return &pgconn.PgError{Code: "57P01"}
				}
				return nil
			})
			if calls != tt.wantCalls || (err != nil) != tt.wantErr {
				t.Errorf("calls %d err %v, want %d calls, error %v", calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}

// refusingServer stands for PostgreSQL during a rotation: it accepts the
// role's password, whatever it is at the time, and refuses any other.
type refusingServer struct {
	role  atomic.Pointer[string]
	tries atomic.Int64
}

func newRefusingServer(password string) *refusingServer {
	s := &refusingServer{}
	s.role.Store(&password)
	return s
}

func (s *refusingServer) alter(password string) { s.role.Store(&password) }

// connect is a statement on a new connection opened with password.
func (s *refusingServer) connect(d *database) func(context.Context) error {
	return func(context.Context) error {
		s.tries.Add(1)
		if d.currentPassword() != *s.role.Load() {
			return &pgconn.PgError{Code: "28P01"}
		}
		d.rotation.accepted()
		return nil
	}
}

// passwordFile stands for the watched file.
type passwordFile struct{ v atomic.Pointer[string] }

func (f *passwordFile) write(v string) { f.v.Store(&v) }
func (f *passwordFile) read() string   { return *f.v.Load() }

func newRotatingDB(password string) (*database, *passwordFile, *refusingServer) {
	f := &passwordFile{}
	f.write(password)
	return &database{rotation: rotation{password: f.read}}, f, newRefusingServer(password)
}

// TestRetryRidesOutARotation: between a rotation's two writes, in either
// order, a request needing a new connection is refused; it succeeds once
// the second write is made, with no more delay than one backoff (file
// first) or one poll (role first).
func TestRetryRidesOutARotation(t *testing.T) {
	const gap = 1500 * time.Millisecond
	tests := []struct {
		name      string
		fileFirst bool
		lateBy    time.Duration // at most this long after the second write
	}{
		{"role first", false, rotationPoll},
		{"file first", true, maxAuthBackoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d, file, server := newRotatingDB("first")
				first, second := func() { server.alter("second") }, func() { file.write("second") }
				if tt.fileFirst {
					first, second = second, first
				}
				first()
				time.AfterFunc(gap, second)
				start := time.Now()
				if err := d.retry(t.Context(), server.connect(d)); err != nil {
					t.Fatalf("retry: %v after %v", err, time.Since(start))
				}
				if took := time.Since(start); took < gap || took > gap+tt.lateBy {
					t.Errorf("succeeded after %v, want between %v and %v", took, gap, gap+tt.lateBy)
				}
				if n := server.tries.Load(); n > 20 {
					t.Errorf("%d connection attempts in %v: the backoff does not back off", n, gap)
				}
			})
		})
	}
}

// TestRetryGivesUpOnAWrongPassword: a password that stays refused fails
// the request after authRetryWindow; later requests then fail at once,
// until a connection is accepted again, which opens a new window.
func TestRetryGivesUpOnAWrongPassword(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, file, server := newRotatingDB("first")
		file.write("typo")
		start := time.Now()
		if err := d.retry(t.Context(), server.connect(d)); !badPassword(err) {
			t.Fatalf("retry: %v, want 28P01", err)
		}
		if took := time.Since(start); took != authRetryWindow {
			t.Errorf("first request failed after %v, want %v", took, authRetryWindow)
		}

		start, tries := time.Now(), server.tries.Load()
		if err := d.retry(t.Context(), server.connect(d)); !badPassword(err) {
			t.Fatalf("retry: %v, want 28P01", err)
		}
		if took, n := time.Since(start), server.tries.Load()-tries; took != 0 || n != 1 {
			t.Errorf("next request: %d attempts over %v, want one, at once", n, took)
		}

		file.write("first") // the operator fixes the file
		if err := d.retry(t.Context(), server.connect(d)); err != nil {
			t.Fatalf("after the fix: %v", err)
		}
		file.write("typo again")
		start = time.Now()
		_ = d.retry(t.Context(), server.connect(d))
		if took := time.Since(start); took != authRetryWindow {
			t.Errorf("after an accepted connection, a refusal waited %v, want a new window of %v", took, authRetryWindow)
		}
	})
}

// TestRetryKeepsToTheDeadline: the retries end with the request's
// context, however much of the window is left.
func TestRetryKeepsToTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, file, server := newRotatingDB("first")
		file.write("second")
		ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := d.retry(ctx, server.connect(d)); !badPassword(err) {
			t.Fatalf("retry: %v, want 28P01", err)
		}
		if took := time.Since(start); took > 700*time.Millisecond {
			t.Errorf("returned after %v, past the deadline", took)
		}
	})
}

// TestRetryKeepsToTheQueryTimeout: a statement on a database that does
// not answer ends at the query timeout, with errQueryTimeout, and is not
// sent again, whatever the error the driver made of it.
func TestRetryKeepsToTheQueryTimeout(t *testing.T) {
	for _, driverErr := range []error{context.DeadlineExceeded, driver.ErrBadConn} {
		t.Run(driverErr.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls := 0
				start := time.Now()
				err := (&database{queryTimeout: time.Second}).retry(t.Context(), func(ctx context.Context) error {
					calls++
					<-ctx.Done() // a frozen server
					return driverErr
				})
				if !errors.Is(err, errQueryTimeout) || !errors.Is(err, driverErr) || calls != 1 || time.Since(start) != time.Second {
					t.Errorf("err %v after %d calls and %v, want errQueryTimeout after one call and 1s", err, calls, time.Since(start))
				}
			})
		})
	}
}

// TestRequestDeadlineAnswers504: when the request's deadline ends the
// statement, the client gets a JSON 504 with its correlation ID, not the
// 503 of a database that failed.
func TestRequestDeadlineAnswers504(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := httptest.NewRecorder()
		ctx, cancel := context.WithTimeoutCause(t.Context(), time.Second, server.ErrDeadline)
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/orders/1", nil)
		err := (&database{queryTimeout: 5 * time.Second}).retry(ctx, func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		databaseError(w, r, err)
		var body struct{ Error string }
		if w.Code != http.StatusGatewayTimeout || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error == "" {
			t.Errorf("answer %d %s, want a JSON 504", w.Code, w.Body)
		}
		if errors.Is(err, errQueryTimeout) {
			t.Errorf("err %v: the request's deadline came first, not the query's", err)
		}
	})
}

// TestRetryWithoutAPasswordFile: with the password in DATABASE_URL
// nothing can change it, so a refusal is final at once.
func TestRetryWithoutAPasswordFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		start := time.Now()
		err := (&database{}).retry(t.Context(), func(context.Context) error { calls++; return &pgconn.PgError{Code: "28P01"} })
		if !badPassword(err) || calls != 1 || time.Since(start) != 0 {
			t.Errorf("err %v after %d calls and %v, want 28P01 after one call, at once", err, calls, time.Since(start))
		}
	})
}

func TestUnavailable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", errors.New("dial tcp: connection refused"), true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"invalid password", &pgconn.PgError{Code: "28P01"}, true},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"check violation", &pgconn.PgError{Code: "23514"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unavailable(tt.err); got != tt.want {
				t.Errorf("unavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// fakeCatalog answers /products/{id} like catalog: p1 exists, "broken"
// is a 500, "busy" a 503, "moved" a redirect to the product list (as
// catalog's router answers /products/.), "liar" another product, "slow"
// never answers; everything else is a 404.
func fakeCatalog(t *testing.T) *catalogClient {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`[{"id":"p1","name":"beans","price_cents":2450}]`))
	})
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("id") {
		case "p1", "liar":
			_, _ = w.Write([]byte(`{"id":"p1","name":"beans","price_cents":2450}`))
		case "broken":
			http.Error(w, "oops", http.StatusInternalServerError)
		case "busy":
			http.Error(w, "draining", http.StatusServiceUnavailable)
		case "moved":
			http.Redirect(w, r, "/products", http.StatusTemporaryRedirect)
		case "slow":
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	})
	srv := httptest.NewServer(mux)
	c := newCatalogClient(srv.URL + "/")
	t.Cleanup(func() {
		c.http.CloseIdleConnections()
		srv.Close()
	})
	return c
}

func TestCatalogClient(t *testing.T) {
	c := fakeCatalog(t)
	tests := []struct {
		name    string
		id      string
		want    product
		wantErr error
	}{
		{"known", "p1", product{ID: "p1", PriceCents: 2450}, nil},
		{"unknown", "p2", product{}, errUnknownProduct},
		{"path is escaped", "../admin", product{}, errUnknownProduct},
		{"catalog failing", "broken", product{}, errCatalogBroken},
		{"catalog draining", "busy", product{}, errCatalogDown},
		{"redirect not followed", "moved", product{}, errCatalogBroken},
		{"another product", "liar", product{}, errCatalogBroken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.product(context.Background(), tt.id)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("product(%q) error %v, want %v", tt.id, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("product(%q) = %+v, want %+v", tt.id, got, tt.want)
			}
		})
	}
}

// TestCatalogClientWhenDown: a catalog that hangs costs a lookup
// catalogTimeout; once its readiness check has failed, catalogDownTimeout;
// once the check passes again, the full timeout is back.
func TestCatalogClientWhenDown(t *testing.T) {
	c := fakeCatalog(t)
	lookup := func() time.Duration {
		start := time.Now()
		if _, err := c.product(context.Background(), "slow"); !errors.Is(err, errCatalogDown) {
			t.Fatalf("product(slow): %v, want errCatalogDown", err)
		}
		return time.Since(start)
	}
	if took := lookup(); took < catalogTimeout {
		t.Errorf("with catalog up, a hung lookup gave up after %v, before catalogTimeout %v", took, catalogTimeout)
	}
	down := c.check(func(context.Context) error { return errors.New("connection refused") })
	if err := down(t.Context()); err == nil {
		t.Fatal("the wrapped check hid the failure")
	}
	if took := lookup(); took >= catalogTimeout {
		t.Errorf("with the check failing, a hung lookup took %v, want about %v", took, catalogDownTimeout)
	}
	if _, err := c.product(context.Background(), "p1"); err != nil {
		t.Errorf("with the check failing, a lookup catalog answers: %v, want it tried and answered", err)
	}
	up := c.check(func(context.Context) error { return nil })
	if err := up(t.Context()); err != nil || c.down.Load() {
		t.Fatalf("check passing: %v, down %v", err, c.down.Load())
	}
}

func TestValidProductID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"p1", true},
		{"SKU-12_a.b", true},
		{strings.Repeat("x", maxProductID), true},
		{"", false},
		{strings.Repeat("x", maxProductID+1), false},
		{".", false},
		{"..", false},
		{".hidden", false},
		{"-flag", false},
		{"a/b", false},
		{"%2e", false},
		{"a b", false},
		{"a?b", false},
		{"é", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := validProductID(tt.id); got != tt.want {
				t.Errorf("validProductID(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

// TestCreateOrderRefusesBadInput covers the answers given before the
// database is touched (the e2e tests cover the rest against Postgres).
func TestCreateOrderRefusesBadInput(t *testing.T) {
	h := newAPI(nil, fakeCatalog(t)).routes()
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
	}{
		{"malformed JSON", http.MethodPost, "/orders", `{"product_id":`, http.StatusBadRequest},
		{"no product", http.MethodPost, "/orders", `{"quantity":1}`, http.StatusBadRequest},
		{"duplicate key", http.MethodPost, "/orders", `{"product_id":"p1","product_id":"p9","quantity":1}`, http.StatusBadRequest},
		{"miscased key", http.MethodPost, "/orders", `{"Product_ID":"p1","quantity":1}`, http.StatusBadRequest},
		{"product ID too long", http.MethodPost, "/orders", `{"product_id":"` + strings.Repeat("x", 65) + `","quantity":1}`, http.StatusBadRequest},
		{"quantity zero", http.MethodPost, "/orders", `{"product_id":"p1","quantity":0}`, http.StatusBadRequest},
		{"quantity too large", http.MethodPost, "/orders", `{"product_id":"p1","quantity":1001}`, http.StatusBadRequest},
		{"oversize body", http.MethodPost, "/orders", `{"product_id":"` + strings.Repeat("x", maxBody) + `"}`, http.StatusRequestEntityTooLarge},
		{"unknown product", http.MethodPost, "/orders", `{"product_id":"p9","quantity":1}`, http.StatusUnprocessableEntity},
		{"catalog failing", http.MethodPost, "/orders", `{"product_id":"broken","quantity":1}`, http.StatusBadGateway},
		{"catalog draining", http.MethodPost, "/orders", `{"product_id":"busy","quantity":1}`, http.StatusServiceUnavailable},
		{"catalog redirects", http.MethodPost, "/orders", `{"product_id":"moved","quantity":1}`, http.StatusBadGateway},
		{"product ID a dot", http.MethodPost, "/orders", `{"product_id":".","quantity":1}`, http.StatusBadRequest},
		{"product ID a path", http.MethodPost, "/orders", `{"product_id":"../admin","quantity":1}`, http.StatusBadRequest},
		{"order ID not a number", http.MethodGet, "/orders/x", "", http.StatusBadRequest},
		{"order ID zero", http.MethodGet, "/orders/0", "", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			var body struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" {
				t.Errorf("body %s is not a JSON error (%v)", w.Body, err)
			}
		})
	}
}

// TestPasswordWatchOutlivesItsContext: routes opens the pool with the
// context that ends when shutdown begins, but the pool serves through the
// drain and the shutdown; a password rotated meanwhile must still reach
// new connections, until Close.
func TestPasswordWatchOutlivesItsContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(path, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	d, err := openDB(ctx, "postgres://orders@localhost:1/orders", path, 0, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cancel() // shutdown began

	if err := os.WriteFile(path+".new", []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for d.currentPassword() != "second" {
		if time.Now().After(deadline) {
			t.Fatalf("password %q 5s after the rotation, want the rotated one", d.currentPassword())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// grpcCatalog serves catalog.v1.Catalog/GetProduct like fakeCatalog's
// routes: p1 exists, "liar" is another product, "broken" is Internal,
// "busy" Unavailable, "slow" never answers; everything else NotFound.
type grpcCatalog struct {
	catalogv1.UnimplementedCatalogServer
	ids chan string // the correlation ID of each call
}

func (g *grpcCatalog) GetProduct(ctx context.Context, req *catalogv1.GetProductRequest) (*catalogv1.Product, error) {
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md["x-correlation-id"]) > 0 {
		select {
		case g.ids <- md["x-correlation-id"][0]:
		default:
		}
	}
	switch req.GetId() {
	case "p1", "liar":
		return &catalogv1.Product{Id: "p1", Name: "beans", PriceCents: 2450}, nil
	case "broken":
		return nil, status.Error(codes.Internal, "oops")
	case "busy":
		return nil, status.Error(codes.Unavailable, "draining")
	case "slow":
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return nil, status.Error(codes.NotFound, "no such product")
}

func fakeGRPCCatalog(t *testing.T) (*catalogClient, *grpcCatalog) {
	t.Helper()
	g := &grpcCatalog{ids: make(chan string, 16)}
	srv := grpc.NewServer()
	catalogv1.RegisterCatalogServer(srv, g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	c := newCatalogClient("http://127.0.0.1:1") // never used: gRPC wins
	closeConn, err := c.dialCatalog(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = closeConn()
		srv.Stop()
		<-served
	})
	return c, g
}

// The lookups over gRPC give the errors of the HTTP path, and forward the
// request's correlation ID.
func TestCatalogClientGRPC(t *testing.T) {
	c, g := fakeGRPCCatalog(t)
	tests := []struct {
		name    string
		id      string
		want    product
		wantErr error
	}{
		{"known", "p1", product{ID: "p1", PriceCents: 2450}, nil},
		{"unknown", "p2", product{}, errUnknownProduct},
		{"catalog failing", "broken", product{}, errCatalogBroken},
		{"catalog draining", "busy", product{}, errCatalogDown},
		{"another product", "liar", product{}, errCatalogBroken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.product(context.Background(), tt.id)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("product(%q) error %v, want %v", tt.id, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("product(%q) = %+v, want %+v", tt.id, got, tt.want)
			}
		})
	}
	// A hung catalog costs catalogDownTimeout once its check failed.
	down := c.check(func(context.Context) error { return errors.New("connection refused") })
	_ = down(t.Context())
	start := time.Now()
	if _, err := c.product(context.Background(), "slow"); !errors.Is(err, errCatalogDown) {
		t.Fatalf("product(slow): %v, want errCatalogDown", err)
	}
	if took := time.Since(start); took >= catalogTimeout {
		t.Errorf("a hung lookup took %v, want about %v", took, catalogDownTimeout)
	}

	// Through the logging middleware, as POST /orders calls it.
	for len(g.ids) > 0 {
		<-g.ids
	}
	h := logging.Middleware(zap.NewNop())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := c.product(r.Context(), "p1"); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	}))
	req := httptest.NewRequest(http.MethodPost, "/orders", nil)
	req.Header.Set("X-Correlation-ID", "orders-grpc-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if id := <-g.ids; id != "orders-grpc-1" {
		t.Fatalf("catalog received correlation ID %q, want orders-grpc-1", id)
	}
}
