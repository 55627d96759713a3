//go:build unix

package integration_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/prodready/prodready/examples/systemtests/internal/e2e"
)

// TestPasswordText: which passwords can authenticate is PostgreSQL's
// call, not the validator's guess. A non-ASCII password orders accepts
// authenticates, end to end; one that PostgreSQL's SASLprep rewrites is
// refused by orders with an error naming the problem, keeping the last
// good password, and the test shows why: set as the role's password,
// PostgreSQL stores the rewritten text, and pgx, which sends a ligature,
// a Roman numeral or a zero-width space as it is, is refused (28P01).
func TestPasswordText(t *testing.T) {
	s := e2e.StartStack(t, bin, e2e.StackOptions{})
	order := func(t *testing.T) {
		t.Helper()
		if r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p2","quantity":1}`); r.Status != http.StatusCreated {
			t.Fatalf("POST /orders: %d %s", r.Status, r.Body)
		}
	}
	terminate := func() {
		s.PG.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '`+e2e.DBRole+`'`)
	}
	alterRole := func(password string) {
		s.PG.Exec(t, `ALTER ROLE `+e2e.DBRole+` PASSWORD '`+password+`'`)
	}

	accepted := []struct{ name, password string }{
		{"accented", "mot-de-passe-été"},
		{"japanese", "日本語のパスワード"},
		{"emoji", "hunter2-🦀"},
		{"right to left with digits", "שלום123"},
	}
	last := e2e.DBFirstPassword
	for _, tt := range accepted {
		t.Run("accepts "+tt.name, func(t *testing.T) {
			n := reloads(s)
			alterRole(tt.password)
			e2e.WriteSecret(t, s.SecretDir, "password", tt.password+"\n")
			s.Orders.WaitLines(isReload, n+1, 10*time.Second)
			terminate()
			order(t) // on a new connection, with the new password
			last = tt.password
		})
	}

	refused := []struct {
		name, password, why string
		stored              string // the password PostgreSQL stores for it
		pgxFails            bool   // pgx does not rewrite it the same way: it never authenticates
	}{
		{"ligature", "\ufb01sh-and-chips", "NFKC", "fish-and-chips", true},
		{"roman numeral", "chapter-\u216b", "NFKC", "chapter-XII", true},
		{"zero-width space", "pass\u200bword", "invisible character", "pass word", true},
		// pgx maps it as SASLprep does, but a client that does not (older
		// pgx, other drivers) is refused: the file would not hold the
		// password PostgreSQL stores.
		{"no-break space", "pass\u00a0word", "non-ASCII space", "pass word", false},
	}
	for _, tt := range refused {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			refusal := func(l map[string]any) bool {
				e, _ := l["error"].(string)
				return l["level"] == "warn" && strings.Contains(e, tt.why)
			}
			n := len(s.Orders.WaitLines(refusal, 0, 0))
			e2e.WriteSecret(t, s.SecretDir, "password", tt.password+"\n")
			t.Logf("orders: %s", s.Orders.WaitLines(refusal, n+1, 10*time.Second)[n]["error"])
			for _, l := range s.Orders.Lines() {
				if strings.Contains(l, tt.password) {
					t.Errorf("the refused password reached the log: %s", l)
				}
			}
			// The last good password goes on: the role still has it.
			terminate()
			order(t)
			// The check warns, and the instance stays ready.
			code, body, err := e2e.Get(s.Client, s.OrdersAdmin+"/readyz", nil)
			if err != nil || code != http.StatusOK || !strings.Contains(string(body), `"warn"`) {
				t.Errorf("readyz with a refused password file: %d %s %v, want 200 with a warning", code, body, err)
			}

			// Why: given this password, PostgreSQL stores another one.
			alterRole(tt.password)
			if err := connect(t, s, tt.stored); err != nil {
				t.Errorf("connecting with %q, the password SASLprep makes of it: %v", tt.stored, err)
			}
			err = connect(t, s, tt.password)
			var pgErr *pgconn.PgError
			if tt.pgxFails && (!errors.As(err, &pgErr) || pgErr.Code != "28P01") {
				t.Errorf("connecting with the password the role was given: %v, want 28P01: it can never authenticate", err)
			}
			alterRole(last)
			// Back to the good file, for the next case.
			readable := func(l map[string]any) bool { return l["msg"] == "secret readable again" }
			n = len(s.Orders.WaitLines(readable, 0, 0))
			e2e.WriteSecret(t, s.SecretDir, "password", last+"\n")
			s.Orders.WaitLines(readable, n+1, 10*time.Second)
		})
	}

	t.Run("refuses at start", func(t *testing.T) {
		path := e2e.WriteSecret(t, t.TempDir(), "password", "\ufb01sh-and-chips\n")
		code, out := e2e.Run(t, bin.Orders, []string{
			"DATABASE_URL=" + s.PG.DSN("orders", e2e.DBRole, ""),
			"DATABASE_PASSWORD_FILE=" + path,
		}, "migrate")
		if code == 0 || !strings.Contains(out, "DATABASE_PASSWORD_FILE") || !strings.Contains(out, "NFKC") {
			t.Errorf("orders migrate with a ligature in the password: exit %d\n%s\nwant a failure naming the file and NFKC", code, out)
		}
	})
}

// connect opens and closes one connection as orders' role with password,
// the way orders does (pgx).
func connect(t *testing.T, s *e2e.Stack, password string) error {
	t.Helper()
	cfg, err := pgx.ParseConfig(s.PG.DSN("orders", e2e.DBRole, ""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = password
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}
