package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"go.uber.org/zap"

	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/secrets"
)

// Pool limits. Idle connections are kept as many as may be open, so a
// burst does not open (and authenticate) connections it just closed.
const (
	maxConns       = 16
	connMaxIdle    = 5 * time.Minute
	connMaxLife    = 30 * time.Minute
	connectTimeout = 3 * time.Second
	// attempts bounds the retries of retry: each failed attempt uses up one
	// connection the server had ended, and the pool holds at most maxConns,
	// so the last attempt gets a new connection.
	attempts = maxConns + 1
)

var errNotFound = errors.New("orders: not found")

// errQueryTimeout is the cause of a statement that ran out of its query
// timeout (DATABASE_QUERY_TIMEOUT).
var errQueryTimeout = errors.New("orders: database query timed out")

// database is the connection pool, and the watched password file that new
// connections authenticate with.
type database struct {
	*sql.DB
	password *secrets.File // nil without DATABASE_PASSWORD_FILE
	rotation rotation
	// queryTimeout bounds each statement, the wait for a connection of the
	// pool and the dial of a new one included; zero: only the caller's
	// context does.
	queryTimeout time.Duration
}

// withoutConnString keeps the reason of pgx's parse error and drops the
// connection string it quotes: pgx masks the password it finds, but one
// with an unescaped "@" is cut where pgx thinks it ends, and the rest
// shows.
func withoutConnString(err error) error {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return err
	}
	reason := "invalid"
	if _, after, ok := strings.Cut(pe.Error(), "`: "); ok {
		reason = after
	}
	return fmt.Errorf("cannot parse the connection string (not shown: it can hold a password): %s", reason)
}

// openDB opens the pool without connecting: the service starts, and
// readiness says when PostgreSQL answers. Every new connection asks the
// password file for the current password, so a rotated password needs no
// restart: connections already open stay authenticated, new ones use the
// new password. The file is watched until Close, whenever ctx ends: the
// pool serves through the drain and the shutdown, and needs a rotation
// made meanwhile as much as any other. queryTimeout bounds each statement
// (database.queryTimeout).
func openDB(ctx context.Context, url, passwordFile string, queryTimeout time.Duration, logger *zap.Logger) (*database, error) {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", withoutConnString(err))
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = connectTimeout
	}
	d := &database{queryTimeout: queryTimeout}
	var opts []stdlib.OptionOpenDB
	if passwordFile != "" {
		d.password, err = secrets.Watch(context.WithoutCancel(ctx), passwordFile,
			secrets.TrimNewline(true), secrets.MaxSize(maxPasswordFile),
			secrets.Validate(validPassword), secrets.Logger(logging.Slog(logger)))
		if err != nil {
			return nil, fmt.Errorf("DATABASE_PASSWORD_FILE: %w", err)
		}
		d.rotation.password = func() string { return d.password.Value().Reveal() }
		opts = append(opts,
			stdlib.OptionBeforeConnect(func(_ context.Context, c *pgx.ConnConfig) error {
				c.Password = d.password.Value().Reveal()
				return nil
			}),
			stdlib.OptionAfterConnect(func(context.Context, *pgx.Conn) error {
				d.rotation.accepted()
				return nil
			}))
	}
	d.DB = stdlib.OpenDB(*cc, opts...)
	d.SetMaxOpenConns(maxConns)
	d.SetMaxIdleConns(maxConns)
	d.SetConnMaxIdleTime(connMaxIdle)
	d.SetConnMaxLifetime(connMaxLife)
	return d, nil
}

// Close closes the pool, then stops watching the password file.
func (d *database) Close() error {
	err := d.DB.Close()
	if d.password != nil {
		err = errors.Join(err, d.password.Close())
	}
	return err
}

// schema is created by "orders migrate", not at start-up, where several
// replicas starting together would race. Each statement can run again:
// a release's migration adds to what the last one created.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS orders (
		id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		product_id       text        NOT NULL,
		quantity         integer     NOT NULL CHECK (quantity > 0),
		unit_price_cents bigint      NOT NULL CHECK (unit_price_cents >= 0),
		created_at       timestamptz NOT NULL DEFAULT now()
	)`,
	// The Idempotency-Key of an order (idempotency.go): the primary key is
	// what refuses a second order for one key; created_at is what the
	// purge of expired keys reads.
	`CREATE TABLE IF NOT EXISTS idempotency_keys (
		key          text        PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 255),
		request_hash bytea       NOT NULL,
		order_id     bigint      NOT NULL REFERENCES orders (id),
		created_at   timestamptz NOT NULL DEFAULT now()
	)`,
	`CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at)`,
}

// migrateLock is the advisory lock that serialises concurrent migrations
// (two init containers of one rollout).
const migrateLock = 0x6f7264657273 // "orders"

func (d *database) migrate(ctx context.Context) error {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Order is a stored order.
type Order struct {
	ID             int64     `json:"id"`
	ProductID      string    `json:"product_id"`
	Quantity       int       `json:"quantity"`
	UnitPriceCents int64     `json:"unit_price_cents"`
	TotalCents     int64     `json:"total_cents"`
	CreatedAt      time.Time `json:"created_at"`
}

// create stores o and returns it with its ID and time.
func (d *database) create(ctx context.Context, o Order) (Order, error) {
	err := d.retry(ctx, func(ctx context.Context) error {
		return d.QueryRowContext(ctx,
			`INSERT INTO orders (product_id, quantity, unit_price_cents) VALUES ($1, $2, $3)
			 RETURNING id, created_at`,
			o.ProductID, o.Quantity, o.UnitPriceCents).Scan(&o.ID, &o.CreatedAt)
	})
	if err != nil {
		return Order{}, fmt.Errorf("insert order: %w", err)
	}
	o.TotalCents = o.UnitPriceCents * int64(o.Quantity)
	return o, nil
}

// get returns the order id, or errNotFound.
func (d *database) get(ctx context.Context, id int64) (Order, error) {
	o := Order{ID: id}
	err := d.retry(ctx, func(ctx context.Context) error {
		return d.QueryRowContext(ctx,
			`SELECT product_id, quantity, unit_price_cents, created_at FROM orders WHERE id = $1`,
			id).Scan(&o.ProductID, &o.Quantity, &o.UnitPriceCents, &o.CreatedAt)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Order{}, errNotFound
	case err != nil:
		return Order{}, fmt.Errorf("select order %d: %w", id, err)
	}
	o.TotalCents = o.UnitPriceCents * int64(o.Quantity)
	return o, nil
}

// PingContext pings on a live connection: database/sql retries getting a
// connection, not the ping, so a connection the server ended while it sat
// in the pool would fail the readiness check of a healthy database.
func (d *database) PingContext(ctx context.Context) error {
	return d.retry(ctx, d.DB.PingContext)
}

// retry runs fn again, on another connection, when the server refused to
// run its statement because it was ending the session. database/sql
// retries by itself only when the driver knows nothing was sent; a
// connection that the server terminated while it sat idle in the pool
// (pg_terminate_backend after a password rotation, a failover, a fast
// shutdown) is only found out when a statement is sent on it, and fails
// with one of these codes, or driver.ErrBadConn for a ping. The statement
// did not run: sending it again cannot apply it twice. These retries are
// immediate, and at most attempts.
//
// A new connection refused for its password (28P01) is retried too, as
// rotation.wait decides: a rotation changes the role's password and the
// password file one after the other, in either order, and a connection
// opened between the two writes is refused.
//
// Each call of fn gets the query timeout. A call that ran out of it, or
// whose ctx ended (the request's deadline, a client gone), is not retried:
// a database that does not answer in time is not one to wait for again.
func (d *database) retry(ctx context.Context, fn func(context.Context) error) error {
	dead := 0
	backoff := authBackoff
	for {
		used := d.currentPassword()
		err := d.query(ctx, fn)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil || errors.Is(err, errQueryTimeout):
			return err
		case retryable(err):
			if dead++; dead >= attempts {
				return err
			}
		case badPassword(err):
			if !d.rotation.wait(ctx, used, backoff) {
				return err
			}
			backoff = min(2*backoff, maxAuthBackoff)
		default:
			return err
		}
	}
}

// query runs fn with the query timeout: a database that hangs (frozen, a
// lock never released, a network that drops packets) fails the statement
// then, and the request answers 503, rather than holding it to the
// request's deadline. pgx ends a statement whose context ends at once, by
// closing its connection, which the pool then replaces.
func (d *database) query(ctx context.Context, fn func(context.Context) error) error {
	if d.queryTimeout <= 0 {
		return fn(ctx)
	}
	qctx, cancel := context.WithTimeoutCause(ctx, d.queryTimeout, errQueryTimeout)
	defer cancel()
	err := fn(qctx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(qctx), errQueryTimeout) {
		return fmt.Errorf("%w after %v: %w", errQueryTimeout, d.queryTimeout, err)
	}
	return err
}

func (d *database) currentPassword() string {
	if d.rotation.password == nil {
		return ""
	}
	return d.rotation.password()
}

// How requests refused for their password wait for a rotation to finish.
// The window covers the gap between a rotation's two writes plus the
// second of debounce the secrets package may take to publish a new file,
// and stays well below a client's timeout: a password still refused after
// it is wrong, not rotating. The backoff doubles from authBackoff to
// maxAuthBackoff, with jitter, so that the requests of a pod do not open
// their connections in lockstep.
const (
	authRetryWindow = 5 * time.Second
	authBackoff     = 50 * time.Millisecond
	maxAuthBackoff  = 500 * time.Millisecond
	rotationPoll    = 20 * time.Millisecond
)

// rotation is what the requests of one pool share about refused
// passwords: since when the server has refused every new connection.
type rotation struct {
	// password returns the password file's current value; nil without a
	// password file, when no refusal is worth waiting out.
	password func() string

	mu      sync.Mutex
	refused time.Time // the first refusal since a connection was accepted; zero: none
}

// accepted records that the server accepted a new connection: whatever
// was refused before, the next refusal opens a new window.
func (r *rotation) accepted() {
	r.mu.Lock()
	r.refused = time.Time{}
	r.mu.Unlock()
}

// wait is called after the server refused the password used, and reports
// whether to try again: at once when the password file has changed since
// (the role was changed first; the file has caught up), or after backoff
// with the same password (the file was changed first; the role will
// follow). It says no, at once, without a password file, when every new
// connection has been refused for longer than authRetryWindow (a wrong
// password: fail fast rather than hold each request for the window), or
// when ctx ends first: the retries never outlast the request's deadline.
func (r *rotation) wait(ctx context.Context, used string, backoff time.Duration) bool {
	if r.password == nil {
		return false
	}
	now := time.Now()
	r.mu.Lock()
	if r.refused.IsZero() {
		r.refused = now
	}
	end := r.refused.Add(authRetryWindow)
	r.mu.Unlock()
	if r.password() != used {
		return true
	}
	if !now.Before(end) {
		return false
	}
	// Between half the backoff and all of it, but never past the window.
	pause := min(backoff/2+rand.N(backoff/2+1), end.Sub(now)) // #nosec G404 -- jitter, not a secret
	timer := time.NewTimer(pause)
	defer timer.Stop()
	tick := time.NewTicker(rotationPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-tick.C:
			if r.password() != used {
				return true
			}
		}
	}
}

// badPassword reports whether the server refused the password
// (invalid_password, 28P01).
func badPassword(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "28P01"
}

// retryable reports whether err is a dead connection (ErrBadConn) or the
// server ending the session before it ran the statement: admin_shutdown (57P01), crash_shutdown (57P02),
// cannot_connect_now (57P03).
func retryable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "57P01", "57P02", "57P03":
		return true
	}
	return false
}

// unavailable reports whether err means the database cannot be reached or
// is going away, as opposed to a statement it refused: 503 for the first,
// 500 for the second.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true // no answer from the server at all: dial, timeout, closed connection
	}
	switch class := pgErr.Code[:min(2, len(pgErr.Code))]; class {
	case "08", "53", "57": // connection exception, insufficient resources, operator intervention
		return true
	}
	return pgErr.Code == "28P01" // invalid_password: a rotation the pool has not caught up with yet
}
