package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
)

// Idempotency keys, as the IETF httpapi draft "The Idempotency-Key HTTP
// Header Field" has them: a client that sends POST /orders with an
// Idempotency-Key and gets no answer, or a 503 or 504 saying the order
// may have been created, sends the same request with the same key again,
// and gets the order the first attempt created, or a new one when the
// first created nothing; never a second order.
//
// The key, a fingerprint of the request and the order's ID are stored in
// the same statement, hence the same transaction, as the order, and the
// key is the table's primary key: whichever attempt commits first owns
// the key, and every other one fails its INSERT as a whole, its order
// included. That holds when the first attempt commits after its client
// was told 503: a frozen database that resumes runs the INSERT it had
// received, and a backend killed while its commit waited for a
// replica has committed all the same.

// keyTTL is how long a key is kept: a retry with the same key within it
// gets the first attempt's order, a request with it afterwards is a new
// order. A day covers a client's retries, a gateway's and a person's
// "try again tomorrow". Expired keys are purged every keyPurgeInterval,
// keyPurgeBatch rows a statement, at most keyPurgeBatches statements a
// run: the table holds a day of orders, and a purge run never holds the
// database long.
const (
	keyTTL           = 24 * time.Hour
	keyPurgeInterval = time.Hour
	keyPurgeBatch    = 1000
	keyPurgeBatches  = 100
)

// maxIdempotencyKey bounds a key: a UUID is 36 characters; 255 leaves
// room for any client's scheme and none for a payload.
const maxIdempotencyKey = 255

var (
	// errKeyInFlight: another attempt with the key is running: 409.
	errKeyInFlight = errors.New("orders: a request with this Idempotency-Key is in progress")
	// errKeyReused: the key was used for another request: 422.
	errKeyReused = errors.New("orders: the Idempotency-Key was used for another request")
)

// idempotencyKey reads the request's Idempotency-Key: ok false without
// one. The draft makes it a structured-field string ("..."); the bare
// token most clients send (Stripe's convention) is accepted too.
func idempotencyKey(r *http.Request) (key string, ok bool, err error) {
	values := r.Header.Values("Idempotency-Key")
	switch {
	case len(values) == 0:
		return "", false, nil
	case len(values) > 1:
		return "", true, errors.New("one Idempotency-Key header, not several")
	}
	key = values[0]
	if strings.HasPrefix(key, `"`) {
		if len(key) < 2 || !strings.HasSuffix(key, `"`) {
			return "", true, errors.New(`Idempotency-Key: an unterminated quoted string`)
		}
		key = key[1 : len(key)-1]
	}
	if key == "" || len(key) > maxIdempotencyKey {
		return "", true, fmt.Errorf("Idempotency-Key must be 1 to %d characters", maxIdempotencyKey)
	}
	for i := range len(key) {
		if c := key[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "", true, errors.New(`Idempotency-Key must be printable ASCII without '"' or '\'`)
		}
	}
	return key, true, nil
}

// fingerprint identifies a request for its key: the order it asks for,
// not the bytes it was sent as, so that a client that re-encodes its
// retry (another key order, other white space) is not refused.
func fingerprint(productID string, quantity int) []byte {
	h := sha256.Sum256([]byte(productID + "\x00" + strconv.Itoa(quantity)))
	return h[:]
}

// keyLock is the advisory lock an attempt holds while its INSERT runs,
// which tells a retry on any replica that the key is in flight. A 64-bit
// hash: two keys sharing one only make a retry wait for the other's 409.
func keyLock(key string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return int64(h.Sum64()) // #nosec G115 -- a lock number, any 64 bits will do
}

// inFlight is this process's keys whose requests are running, so that a
// retry sent while the first attempt still waits on catalog is a 409 at
// once. Bounded by the requests in flight; keyLock does the same across
// replicas once the INSERT runs.
type inFlight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

// claim reports whether key was free, and takes it.
func (f *inFlight) claim(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.keys[key]; ok {
		return false
	}
	if f.keys == nil {
		f.keys = make(map[string]struct{})
	}
	f.keys[key] = struct{}{}
	return true
}

func (f *inFlight) release(key string) {
	f.mu.Lock()
	delete(f.keys, key)
	f.mu.Unlock()
}

// findKeySQL reads a key and its order ($1 the key, $2 keyTTL in seconds).
const findKeySQL = `SELECT k.request_hash, k.created_at <= now() - make_interval(secs => $2),
			        o.id, o.product_id, o.quantity, o.unit_price_cents, o.created_at
			 FROM idempotency_keys k JOIN orders o ON o.id = k.order_id
			 WHERE k.key = $1`

// insertWithKeySQL is createWithKey's statement: $1-$3 the order, $4 the
// key's lock, $5 the key, $6 the request's fingerprint.
const insertWithKeySQL = `WITH lock AS (
				SELECT pg_try_advisory_xact_lock($4) AS held
			), o AS (
				INSERT INTO orders (product_id, quantity, unit_price_cents)
				SELECT $1, $2, $3 FROM lock WHERE held
				RETURNING id, created_at
			), k AS (
				INSERT INTO idempotency_keys (key, request_hash, order_id)
				SELECT $5, $6, id FROM o
			)
			SELECT lock.held, o.id, o.created_at FROM lock LEFT JOIN o ON true`

// ttlSeconds is keyTTL as the statements take it.
var ttlSeconds = keyTTL.Seconds()

// findKey returns the order stored with key, found false when there is
// none, or errKeyReused when the key was stored for another request. An
// expired key is deleted, and not found.
func (d *database) findKey(ctx context.Context, key string, hash []byte) (o Order, found bool, err error) {
	var stored []byte
	var expired bool
	err = d.retry(ctx, func(ctx context.Context) error {
		return d.QueryRowContext(ctx,
			findKeySQL,
			key, ttlSeconds).Scan(&stored, &expired, &o.ID, &o.ProductID, &o.Quantity, &o.UnitPriceCents, &o.CreatedAt)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Order{}, false, nil
	case err != nil:
		return Order{}, false, fmt.Errorf("select idempotency key: %w", err)
	case expired:
		err := d.retry(ctx, func(ctx context.Context) error {
			_, err := d.ExecContext(ctx,
				`DELETE FROM idempotency_keys WHERE key = $1 AND created_at <= now() - make_interval(secs => $2)`,
				key, ttlSeconds)
			return err
		})
		if err != nil {
			return Order{}, false, fmt.Errorf("delete expired idempotency key: %w", err)
		}
		return Order{}, false, nil
	case string(stored) != string(hash):
		return Order{}, false, errKeyReused
	}
	o.TotalCents = o.UnitPriceCents * int64(o.Quantity)
	return o, true, nil
}

// createWithKey stores o with its key in one statement, and returns it;
// replayed true when another attempt with the key committed first, whose
// order it returns instead. errKeyInFlight when another attempt holds
// the key's lock, errKeyReused when the key was stored for another
// request.
//
// The statement is its own transaction: its first step takes the key's
// lock without waiting, and the order and the key are inserted only when
// it got it. A retry of it, by retry after a dead connection or by the
// client after a 503, cannot store a second order: the key's primary key
// refuses the second INSERT, and with it the second order.
func (d *database) createWithKey(ctx context.Context, o Order, key string, hash []byte) (_ Order, replayed bool, err error) {
	var held bool
	var id sql.NullInt64
	var created sql.NullTime
	err = d.retry(ctx, func(ctx context.Context) error {
		return d.QueryRowContext(ctx,
			insertWithKeySQL,
			o.ProductID, o.Quantity, o.UnitPriceCents, keyLock(key), key, hash).Scan(&held, &id, &created)
	})
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505": // unique_violation: the key is taken
		stored, found, err := d.findKey(ctx, key, hash)
		switch {
		case err != nil:
			return Order{}, false, err
		case !found: // committed, then expired at once: only with a clock gone wrong
			return Order{}, false, errKeyInFlight
		}
		return stored, true, nil
	case err != nil:
		return Order{}, false, fmt.Errorf("insert order with idempotency key: %w", err)
	case !held:
		return Order{}, false, errKeyInFlight
	}
	o.ID, o.CreatedAt = id.Int64, created.Time
	o.TotalCents = o.UnitPriceCents * int64(o.Quantity)
	return o, false, nil
}

// mayBeStored reports whether a failed INSERT may have committed all the
// same: unless the statement was never sent (no connection could be
// opened, pgx's SafeToRetry, a dead connection database/sql gave up on)
// or the server answered it with an error (which aborts its
// transaction), only the server knows: an answer lost to a timeout, a
// closed connection or a backend killed after its commit leaves the
// order stored or not.
func mayBeStored(err error) bool {
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError
	return !pgconn.SafeToRetry(err) && !errors.Is(err, driver.ErrBadConn) &&
		!errors.As(err, &pgErr) && !errors.As(err, &connErr)
}

// purgeKeys deletes the expired keys, keyPurgeBatch at a time, at most
// keyPurgeBatches times, and returns how many it deleted.
func (d *database) purgeKeys(ctx context.Context) (int64, error) {
	var total int64
	for range keyPurgeBatches {
		var n int64
		err := d.retry(ctx, func(ctx context.Context) error {
			res, err := d.ExecContext(ctx,
				`DELETE FROM idempotency_keys WHERE key IN (
					SELECT key FROM idempotency_keys WHERE created_at <= now() - make_interval(secs => $1)
					LIMIT $2)`,
				ttlSeconds, keyPurgeBatch)
			if err == nil {
				n, err = res.RowsAffected()
			}
			return err
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("purge idempotency keys: %w", err)
		}
		if n < keyPurgeBatch {
			break
		}
	}
	return total, nil
}

// purgeKeysEvery purges the expired keys every interval until ctx ends: a
// worker of the shutdown (shutdown.Manager.Go). A failed purge is a
// warning: the keys wait for the next run.
func (d *database) purgeKeysEvery(ctx context.Context, interval time.Duration, logger *zap.Logger) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		n, err := d.purgeKeys(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Warn("idempotency keys not purged", zap.Error(err), zap.Int64("purged", n))
		}
	}
}
