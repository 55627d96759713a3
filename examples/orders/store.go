package main

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// database is the connection pool, and the watched password file that new
// connections authenticate with.
type database struct {
	*sql.DB
	password *secrets.File // nil without DATABASE_PASSWORD_FILE
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
// made meanwhile as much as any other.
func openDB(ctx context.Context, url, passwordFile string, logger *zap.Logger) (*database, error) {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", withoutConnString(err))
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = connectTimeout
	}
	d := &database{}
	var opts []stdlib.OptionOpenDB
	if passwordFile != "" {
		d.password, err = secrets.Watch(context.WithoutCancel(ctx), passwordFile,
			secrets.TrimNewline(true), secrets.MaxSize(maxPasswordFile),
			secrets.Validate(validPassword), secrets.Logger(logging.Slog(logger)))
		if err != nil {
			return nil, fmt.Errorf("DATABASE_PASSWORD_FILE: %w", err)
		}
		opts = append(opts, stdlib.OptionBeforeConnect(func(_ context.Context, c *pgx.ConnConfig) error {
			c.Password = d.password.Value().Reveal()
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

// Password file limits: a password is printable text of at most
// maxPassword bytes, so a file truncated, overwritten by a binary or
// pointed at the wrong thing keeps the last good password.
const (
	maxPassword     = 1 << 10
	maxPasswordFile = 4 << 10
)

var errBadPassword = errors.New("orders: password file does not hold a password")

// validPassword accepts printable UTF-8 of at most maxPassword bytes. Its
// errors say what is wrong, never what the file holds.
func validPassword(b []byte) error {
	switch {
	case len(b) > maxPassword:
		return fmt.Errorf("%w: longer than %d bytes", errBadPassword, maxPassword)
	case !utf8.Valid(b):
		return fmt.Errorf("%w: not UTF-8 text", errBadPassword)
	case bytes.ContainsFunc(b, unicode.IsControl):
		return fmt.Errorf("%w: control characters", errBadPassword)
	}
	return nil
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
// replicas starting together would race.
const schema = `
CREATE TABLE IF NOT EXISTS orders (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	product_id       text        NOT NULL,
	quantity         integer     NOT NULL CHECK (quantity > 0),
	unit_price_cents bigint      NOT NULL CHECK (unit_price_cents >= 0),
	created_at       timestamptz NOT NULL DEFAULT now()
)`

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
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("migrate: %w", err)
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
	err := d.retry(ctx, func() error {
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
	err := d.retry(ctx, func() error {
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
	return d.retry(ctx, func() error { return d.DB.PingContext(ctx) })
}

// retry runs fn again, on another connection, when the server refused to
// run its statement because it was ending the session. database/sql
// retries by itself only when the driver knows nothing was sent; a
// connection that the server terminated while it sat idle in the pool
// (pg_terminate_backend after a password rotation, a failover, a fast
// shutdown) is only found out when a statement is sent on it, and fails
// with one of these codes, or driver.ErrBadConn for a ping. The statement
// did not run: sending it again cannot apply it twice.
//
// A new connection refused for its password (28P01) is retried too once
// the password file holds a newer password: the role's password and the
// file cannot change at the same instant, so during a rotation a
// connection opened between the two is refused, and waiting up to
// rotationWait for the file to catch up turns that into a short delay
// instead of a failed request.
func (d *database) retry(ctx context.Context, fn func() error) error {
	var err error
	for range attempts {
		used := d.currentPassword()
		err = fn()
		switch {
		case retryable(err):
		case badPassword(err) && d.awaitNewPassword(ctx, used):
		default:
			return err
		}
	}
	return err
}

// How long a request refused for its password waits for the password file
// to change, and how often it looks. The secrets package publishes a
// change within a second of the file's event (Debounce, bounded).
const (
	rotationWait = 2 * time.Second
	rotationPoll = 20 * time.Millisecond
)

func (d *database) currentPassword() string {
	if d.password == nil {
		return ""
	}
	return d.password.Value().Reveal()
}

// awaitNewPassword waits until the password file holds a password other
// than used, for at most rotationWait, and reports whether it does.
func (d *database) awaitNewPassword(ctx context.Context, used string) bool {
	if d.password == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, rotationWait)
	defer cancel()
	tick := time.NewTicker(rotationPoll)
	defer tick.Stop()
	for d.currentPassword() == used {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
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
