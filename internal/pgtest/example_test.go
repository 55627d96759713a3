//go:build unix

package pgtest_test

import (
	"testing"

	"github.com/prodready/prodready/internal/pgtest"
)

// appDSN is how a test gets a database of its own: a server private to the
// test, a role with a password, a database it owns.
func appDSN(t *testing.T) string {
	srv := pgtest.Start(t)
	srv.Exec(t, `CREATE ROLE app LOGIN PASSWORD 'secret'; CREATE DATABASE app OWNER app;`)
	return srv.DSN("app", "app", "secret")
}

func ExampleStart() {
	// In a test: dsn := appDSN(t), then sql.Open("pgx", dsn).
	_ = appDSN
}
