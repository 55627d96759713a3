//go:build unix

package integration_test

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/internal/pgtest"
)

// TestPingContextAgainstPostgres: health.PingContext with a real *sql.DB
// passes while Postgres is up and fails within the check's timeout once
// it is stopped; readiness follows.
func TestPingContextAgainstPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	db, err := sql.Open("pgx", pg.DSN("postgres", pgtest.SuperUser, pgtest.SuperPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })

	const timeout = 500 * time.Millisecond
	check := health.PingContext(db)
	checker := health.New()
	checker.AddReadiness("postgres", check, health.Timeout(timeout))
	ready := checker.Handler(health.Readiness)
	readiness := func() int {
		w := httptest.NewRecorder()
		ready.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return w.Code
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := check(ctx); err != nil {
		t.Fatalf("ping with Postgres up: %v", err)
	}
	if code := readiness(); code != http.StatusOK {
		t.Fatalf("readiness with Postgres up: %d", code)
	}

	pg.Stop(t)
	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := check(ctx); err == nil {
		t.Fatal("ping with Postgres stopped: nil error")
	}
	if took := time.Since(start); took > timeout+200*time.Millisecond {
		t.Errorf("ping took %v, beyond its timeout %v", took, timeout)
	}
	if code := readiness(); code != http.StatusServiceUnavailable {
		t.Errorf("readiness with Postgres stopped: %d, want 503", code)
	}

	pg.Start(t)
	ctx, cancel = context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := check(ctx); err != nil {
		t.Errorf("ping after Postgres restarted: %v", err)
	}
}

// A *pgxpool.Pool has Ping, not PingContext: its method value is a
// health.Check as it is, with no adapter.
func Example_pgxPool() {
	pool, err := pgxpool.New(context.Background(), os.Getenv("DATABASE_URL"))
	if err != nil {
		return
	}
	defer pool.Close()
	checks := health.New()
	checks.AddReadiness("postgres", pool.Ping, health.Timeout(2*time.Second))
}

// TestPoolPingAgainstPostgres: pool.Ping as a readiness check passes while
// Postgres is up and fails once it is stopped.
func TestPoolPingAgainstPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	pool, err := pgxpool.New(t.Context(), pg.DSN("postgres", pgtest.SuperUser, pgtest.SuperPassword))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	checker := health.New(health.Logger(slog.New(slog.DiscardHandler)))
	checker.AddReadiness("postgres", pool.Ping, health.Timeout(500*time.Millisecond))
	readiness := func() int {
		w := httptest.NewRecorder()
		checker.Handler(health.Readiness).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return w.Code
	}
	if code := readiness(); code != http.StatusOK {
		t.Fatalf("readiness with Postgres up: %d", code)
	}
	pg.Stop(t)
	if code := readiness(); code != http.StatusServiceUnavailable {
		t.Errorf("readiness with Postgres stopped: %d, want 503", code)
	}
}
