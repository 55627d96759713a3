// Package correlation holds the one rule for correlation IDs that the HTTP
// and gRPC sides share: which incoming IDs are kept, and how a new one is
// made.
package correlation

import (
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// MaxLen bounds an accepted correlation ID: long enough for any UUID,
// ULID or trace-derived ID, short enough that a client cannot bloat every
// log line of the request.
const MaxLen = 128

// Valid reports whether id is 1–128 characters of [A-Za-z0-9._:-]. The
// set leaves out everything that could break a log line or a header
// (quotes, spaces, control characters, non-ASCII).
func Valid(id string) bool {
	if len(id) == 0 || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// New returns a new UUIDv7 (RFC 9562) stamped with now: 48 bits of Unix
// milliseconds, so IDs sort by arrival in log search, then 74 random bits. Written here
// rather than with uuid.NewV7, which reads crypto/rand (a system call per
// request) into a buffer that escapes: this costs one allocation, the
// string. The random bits come from the runtime's ChaCha8 generator, seeded
// by the operating system: unique and unguessable enough for an ID that is
// sent back to the client anyway and is no secret.
func New(now time.Time) string {
	var u [16]byte
	binary.BigEndian.PutUint64(u[:8], uint64(now.UnixMilli())<<16) // #nosec G115 -- the clock is after 1970
	binary.BigEndian.PutUint16(u[6:8], uint16(rand.Uint32()))      // #nosec G115 G404 -- truncation wanted; not a secret, see above
	binary.BigEndian.PutUint64(u[8:], rand.Uint64())               // #nosec G404 -- not a secret, see above
	u[6] = 0x70 | u[6]&0x0f                                        // version 7
	u[8] = 0x80 | u[8]&0x3f                                        // variant 10
	const digits = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = digits[c>>4], digits[c&0x0f]
		j += 2
	}
	return string(s[:])
}
