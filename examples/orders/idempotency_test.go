//go:build unix

package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/prodready/prodready/internal/pgtest"
	"github.com/prodready/prodready/server"
)

// pgAPI is orders' API on a private PostgreSQL server, with catalog
// stood in for by an httptest server that runs beforeLookup (when set)
// before it answers a lookup: the moment between the key's check and the
// order's INSERT, where a test freezes or kills the database.
type pgAPI struct {
	pg           *pgtest.Server
	db           *database
	handler      http.Handler
	beforeLookup atomic.Pointer[func()]
}

func startPGAPI(t *testing.T, queryTimeout time.Duration) *pgAPI {
	t.Helper()
	a := &pgAPI{pg: pgtest.Start(t)}
	a.pg.Exec(t, `CREATE ROLE orders LOGIN PASSWORD 'secret'; CREATE DATABASE orders OWNER orders;`)
	db, err := openDB(t.Context(), a.pg.DSN("orders", "orders", "secret"), "", queryTimeout, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.db = db

	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		if f := a.beforeLookup.Load(); f != nil && *f != nil {
			(*f)()
		}
		_, _ = w.Write([]byte(`{"id":"p1","name":"beans","price_cents":2450}`))
	})
	srv := httptest.NewServer(mux)
	c := newCatalogClient(srv.URL + "/")
	t.Cleanup(func() {
		c.http.CloseIdleConnections()
		srv.Close()
	})
	a.handler = newAPI(db, c).routes()
	return a
}

// onLookup sets what every catalog lookup runs first; nil: nothing.
func (a *pgAPI) onLookup(f func()) { a.beforeLookup.Store(&f) }

// post sends POST /orders with the key (none when empty).
func (a *pgAPI) post(key, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, r)
	return w
}

// orders counts the stored orders.
func (a *pgAPI) orders(t *testing.T) int {
	t.Helper()
	n, err := strconv.Atoi(a.pg.Query(t, `\c orders
SELECT count(*) FROM orders`))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// retryUntilSettled retries a keyed order as a client told "retry with the
// same key" would: until it is no longer 409 (the first attempt still in
// flight) nor 503, at most 50 times.
func (a *pgAPI) retryUntilSettled(t *testing.T, key, body string) *httptest.ResponseRecorder {
	t.Helper()
	var w *httptest.ResponseRecorder
	for range 50 {
		w = a.post(key, body)
		if w.Code != http.StatusConflict && w.Code != http.StatusServiceUnavailable {
			return w
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("retry of %s never settled: %d %s", key, w.Code, w.Body)
	return nil
}

// warm readies n connections of the pool as a busy service's are: open,
// with the statements prepared (pgx caches them per connection), so that
// an INSERT goes out in one write and a frozen server receives it.
func (a *pgAPI) warm(t *testing.T, n int) {
	t.Helper()
	conns := make([]*sql.Conn, n)
	for i := range conns {
		c, err := a.db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("warm-%d-%d", n, i)
		var held bool
		var id sql.NullInt64
		var created sql.NullTime
		if err := c.QueryRowContext(t.Context(), insertWithKeySQL, "p1", 1, 1, keyLock(key), key, []byte{1}).Scan(&held, &id, &created); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(t.Context(), findKeySQL, key, ttlSeconds); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	for _, c := range conns {
		_ = c.Close() // back to the pool
	}
}

const orderBody = `{"product_id":"p1","quantity":2}`

// TestIdempotencyKey: what a key does when nothing fails.
func TestIdempotencyKey(t *testing.T) {
	a := startPGAPI(t, 5*time.Second)

	first := a.post("k-1", orderBody)
	if first.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	again := a.post("k-1", orderBody)
	if again.Code != http.StatusCreated || again.Body.String() != first.Body.String() {
		t.Errorf("same key and body: %d %s, want 201 %s", again.Code, again.Body, first.Body)
	}
	if got := again.Header().Get("Idempotent-Replayed"); got != "true" {
		t.Errorf("a replay's Idempotent-Replayed header = %q, want true", got)
	}
	if got, want := again.Header().Get("Location"), first.Header().Get("Location"); got != want {
		t.Errorf("a replay's Location = %q, want %q", got, want)
	}
	// The same body, spelled with other white space, is the same request.
	if w := a.post("k-1", `{ "quantity": 2, "product_id": "p1" }`); w.Code != http.StatusCreated || w.Body.String() != first.Body.String() {
		t.Errorf("same key, same request spelled differently: %d %s", w.Code, w.Body)
	}
	if w := a.post("k-1", `{"product_id":"p1","quantity":3}`); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("same key, other body: %d %s, want 422", w.Code, w.Body)
	}
	// The draft's quoted form (a structured-field string) is the same key.
	if w := a.post(`"k-1"`, orderBody); w.Code != http.StatusCreated || w.Body.String() != first.Body.String() {
		t.Errorf("quoted key: %d %s", w.Code, w.Body)
	}
	if w := a.post("k-2", orderBody); w.Code != http.StatusCreated || w.Body.String() == first.Body.String() {
		t.Errorf("another key: %d %s, want a new order", w.Code, w.Body)
	}
	// Without a key, every POST is a new order, as before.
	for range 2 {
		if w := a.post("", orderBody); w.Code != http.StatusCreated {
			t.Errorf("no key: %d %s", w.Code, w.Body)
		}
	}
	if n := a.orders(t); n != 4 {
		t.Errorf("%d orders stored, want 4", n)
	}
	for _, bad := range []string{"", `""`, strings.Repeat("k", maxIdempotencyKey+1), "k\x01", `"k`, "ké"} {
		r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(orderBody))
		r.Header["Idempotency-Key"] = []string{bad}
		w := httptest.NewRecorder()
		a.handler.ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "Idempotency-Key") {
			t.Errorf("key %q: %d %s, want a 400 naming the header", bad, w.Code, w.Body)
		}
	}
}

// TestIdempotencyKeyInFlight: a retry while the first attempt is still
// running is 409, whether the first runs in this process (held in its
// catalog lookup) or in another replica sharing the database (stood in
// for by a transaction holding the key's lock, as the replica's INSERT
// does while it runs); the order is created once the first is done.
func TestIdempotencyKeyInFlight(t *testing.T) {
	a := startPGAPI(t, 5*time.Second)

	t.Run("this process", func(t *testing.T) {
		held, release := make(chan struct{}), make(chan struct{})
		a.onLookup(func() { close(held); <-release })
		var first *httptest.ResponseRecorder
		var wg sync.WaitGroup
		wg.Go(func() { first = a.post("in-flight", orderBody) })
		<-held
		a.onLookup(nil)
		if w := a.post("in-flight", orderBody); w.Code != http.StatusConflict {
			t.Errorf("retry in flight: %d %s, want 409", w.Code, w.Body)
		}
		close(release)
		wg.Wait()
		if first.Code != http.StatusCreated {
			t.Fatalf("first: %d %s", first.Code, first.Body)
		}
		if w := a.post("in-flight", orderBody); w.Code != http.StatusCreated || w.Body.String() != first.Body.String() {
			t.Errorf("retry after: %d %s, want the first's %s", w.Code, w.Body, first.Body)
		}
	})

	t.Run("another replica", func(t *testing.T) {
		replica, err := a.db.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = replica.Rollback() }()
		if _, err := replica.ExecContext(t.Context(), "SELECT pg_advisory_xact_lock($1)", keyLock("replica")); err != nil {
			t.Fatal(err)
		}
		if w := a.post("replica", orderBody); w.Code != http.StatusConflict {
			t.Errorf("while another replica runs the key: %d %s, want 409", w.Code, w.Body)
		}
		if err := replica.Rollback(); err != nil { // the replica's attempt failed: nothing stored
			t.Fatal(err)
		}
		first := a.post("replica", orderBody)
		if first.Code != http.StatusCreated {
			t.Fatalf("after: %d %s", first.Code, first.Body)
		}
		if w := a.post("replica", orderBody); w.Code != http.StatusCreated || w.Body.String() != first.Body.String() {
			t.Errorf("retry: %d %s, want %s", w.Code, w.Body, first.Body)
		}
	})
	if n := a.orders(t); n != 2 {
		t.Errorf("%d orders stored, want 2", n)
	}
}

// TestIdempotencyKeyFrozenDatabase: PostgreSQL freezes (SIGSTOP) just
// before the INSERTs are sent. Each request runs out of its query timeout
// and is answered 503, saying the order may exist and to retry with the
// same key; on the thaw PostgreSQL runs the INSERTs it had received and
// commits them. Every retry with the same key then gets the order its
// first attempt stored, and no key ever has two orders.
func TestIdempotencyKeyFrozenDatabase(t *testing.T) {
	const requests = 6
	a := startPGAPI(t, time.Second)
	a.warm(t, requests)
	before := a.orders(t)

	// Freeze once every request has checked its key and asks catalog, so
	// that each sends its INSERT to the frozen server.
	var asked sync.WaitGroup
	asked.Add(requests)
	frozen := make(chan struct{})
	a.onLookup(func() { asked.Done(); <-frozen })
	answers := make([]*httptest.ResponseRecorder, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() { answers[i] = a.post(fmt.Sprintf("frozen-%d", i), orderBody) })
	}
	asked.Wait()
	a.onLookup(nil) // the retries ask catalog as usual
	a.pg.Freeze(t)
	close(frozen)
	wg.Wait()
	a.pg.Thaw(t)

	for i, w := range answers {
		var e struct{ Error string }
		if w.Code != http.StatusServiceUnavailable || json.Unmarshal(w.Body.Bytes(), &e) != nil ||
			!strings.Contains(e.Error, "may have been created") || !strings.Contains(e.Error, "same Idempotency-Key") {
			t.Errorf("request %d while frozen: %d %s, want a 503 saying the order may exist and to retry with the same Idempotency-Key", i, w.Code, w.Body)
		}
	}
	committed := a.orders(t) - before // what PostgreSQL committed after the 503s
	ids := map[string]bool{}
	for i := range requests {
		w := a.retryUntilSettled(t, fmt.Sprintf("frozen-%d", i), orderBody)
		if w.Code != http.StatusCreated {
			t.Errorf("retry %d: %d %s", i, w.Code, w.Body)
		}
		ids[w.Header().Get("Location")] = true
	}
	t.Logf("%d of %d orders answered 503 were committed on the thaw", committed, requests)
	if committed == 0 {
		t.Error("no INSERT committed on the thaw: the case this test is for did not happen")
	}
	if n := a.orders(t) - before; n != requests || len(ids) != requests {
		t.Errorf("%d orders stored and %d distinct ones returned for %d keys, want one each", n, len(ids), requests)
	}
}

// TestIdempotencyKeyKilledBackend: the backend running an order's INSERT
// is killed (pg_terminate_backend) after the INSERT committed and before
// the answer reached orders: the commit waits for a synchronous standby
// that does not exist, as under a replication outage, and PostgreSQL
// warns "the transaction has already committed locally" as it ends the
// connection. The client's answer is a 503 that says the order may exist
// (or the order itself); a retry with the same key gets that same order,
// and one order is stored.
func TestIdempotencyKeyKilledBackend(t *testing.T) {
	a := startPGAPI(t, 5*time.Second)
	if w := a.post("warm", orderBody); w.Code != http.StatusCreated {
		t.Fatalf("warm-up: %d %s", w.Code, w.Body)
	}
	before := a.orders(t)
	// Every commit waits for a standby from the start of the server on: a
	// reload would take effect whenever the checkpointer gets to it, and
	// an order committed before that would not wait.
	a.pg.Exec(t, `ALTER SYSTEM SET synchronous_standby_names = 'nobody'`)
	a.pg.Stop(t)
	a.pg.Start(t)

	var first *httptest.ResponseRecorder
	var wg sync.WaitGroup
	wg.Go(func() { first = a.post("killed", orderBody) })
	waiting := ""
	for range 200 {
		if waiting = a.pg.Query(t, `SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'`); waiting != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if waiting == "" {
		t.Fatal("no backend waited for the standby")
	}
	a.pg.Exec(t, `SELECT pg_terminate_backend(`+waiting+`)`)
	// Commits stop waiting from now on: a retry inside orders, if any,
	// commits at once.
	a.pg.Exec(t, `ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();`)
	wg.Wait()

	switch {
	case first.Code == http.StatusCreated:
	case first.Code == http.StatusServiceUnavailable && bytes.Contains(first.Body.Bytes(), []byte("may have been created")):
	default:
		t.Errorf("killed mid-insert: %d %s, want the order or a 503 saying it may exist", first.Code, first.Body)
	}
	w := a.retryUntilSettled(t, "killed", orderBody)
	if w.Code != http.StatusCreated {
		t.Fatalf("retry: %d %s", w.Code, w.Body)
	}
	if first.Code == http.StatusCreated && w.Body.String() != first.Body.String() {
		t.Errorf("retry: %s, want the first's %s", w.Body, first.Body)
	}
	t.Logf("killed mid-insert: %d; retry: %d", first.Code, w.Code)
	if n := a.orders(t) - before; n != 1 {
		t.Errorf("%d orders stored for one key, want 1", n)
	}
}

// TestIdempotencyKeysExpire: a key older than keyTTL is purged, and a
// request with it is a new order; younger keys stay.
func TestIdempotencyKeysExpire(t *testing.T) {
	a := startPGAPI(t, 5*time.Second)
	old, young := a.post("old", orderBody), a.post("young", orderBody)
	if old.Code != http.StatusCreated || young.Code != http.StatusCreated {
		t.Fatalf("%d %s, %d %s", old.Code, old.Body, young.Code, young.Body)
	}
	a.pg.Exec(t, `\c orders
UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'`)
	// An expired key is a new order, even before the purge has run.
	if w := a.post("old", orderBody); w.Code != http.StatusCreated || w.Body.String() == old.Body.String() || w.Header().Get("Idempotent-Replayed") != "" {
		t.Errorf("expired key: %d %s, want a new order", w.Code, w.Body)
	}
	a.pg.Exec(t, `\c orders
UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'`)
	n, err := a.db.purgeKeys(t.Context())
	if err != nil || n != 1 {
		t.Errorf("purgeKeys = %d, %v; want 1", n, err)
	}
	if got := a.pg.Query(t, `\c orders
SELECT string_agg(key, ',') FROM idempotency_keys`); got != "young" {
		t.Errorf("keys after the purge: %q, want young", got)
	}
}

// TestCreateWithPostgresStopped: with nothing listening, no INSERT was
// sent, and the 503 says only that the database is unavailable.
func TestCreateWithPostgresStopped(t *testing.T) {
	a := startPGAPI(t, 2*time.Second)
	a.pg.Stop(t)
	for _, key := range []string{"", "stopped"} {
		w := a.post(key, orderBody)
		if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "may have been created") {
			t.Errorf("key %q, Postgres stopped: %d %s, want a plain 503", key, w.Code, w.Body)
		}
	}
}

// TestIdempotencyKeyRequestDeadline: the request's deadline
// (server.Deadline) ends while the frozen server holds the INSERT: the
// 504 says the order may exist and to retry with the same key, and the
// retry after the thaw gets the one order.
func TestIdempotencyKeyRequestDeadline(t *testing.T) {
	a := startPGAPI(t, 5*time.Second)
	a.handler = server.Deadline(time.Second)(a.handler)
	a.warm(t, 1)
	before := a.orders(t)
	a.onLookup(func() { a.onLookup(nil); a.pg.Freeze(t) })
	w := a.post("deadline", orderBody)
	a.pg.Thaw(t)
	if w.Code != http.StatusGatewayTimeout || !strings.Contains(w.Body.String(), "may have been created") ||
		!strings.Contains(w.Body.String(), "same Idempotency-Key") {
		t.Errorf("deadline while frozen: %d %s, want a 504 saying the order may exist and to retry with the same key", w.Code, w.Body)
	}
	if w := a.retryUntilSettled(t, "deadline", orderBody); w.Code != http.StatusCreated {
		t.Errorf("retry: %d %s", w.Code, w.Body)
	}
	if n := a.orders(t) - before; n != 1 {
		t.Errorf("%d orders stored for one key, want 1", n)
	}
}

// FuzzIdempotencyKey: the header is the client's text. The parser never
// panics; a key it accepts is 1 to maxIdempotencyKey bytes of printable
// ASCII without '"' or '\', and the same key quoted is the same key.
func FuzzIdempotencyKey(f *testing.F) {
	for _, s := range []string{"k-1", `"k-1"`, "", `""`, `"`, "ké", "k\x00", strings.Repeat("k", maxIdempotencyKey+1), "8e03978e-40d5-43e8-bc93-6894a57f9324"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodPost, "/orders", nil)
		r.Header["Idempotency-Key"] = []string{v}
		key, ok, err := idempotencyKey(r)
		if !ok {
			t.Fatalf("a present header read as absent: %q", v)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "Idempotency-Key") {
				t.Errorf("error %q does not name the header", err)
			}
			return
		}
		if key == "" || len(key) > maxIdempotencyKey || strings.ContainsAny(key, "\"\\") {
			t.Errorf("accepted %q as key %q", v, key)
		}
		for i := range len(key) {
			if key[i] < 0x20 || key[i] > 0x7e {
				t.Errorf("accepted %q as key %q", v, key)
				break
			}
		}
		r.Header["Idempotency-Key"] = []string{`"` + key + `"`}
		if quoted, _, err := idempotencyKey(r); err != nil || quoted != key {
			t.Errorf("quoted %q: %q, %v; want the same key", key, quoted, err)
		}
	})
}
