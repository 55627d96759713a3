package logging

import (
	"strconv"
	"time"

	"github.com/google/uuid"
)

// maxIDLen bounds an accepted correlation ID: long enough for any UUID,
// ULID or trace-derived ID, short enough that a client cannot bloat every
// log line of the request.
const maxIDLen = 128

// validID reports whether id is 1–128 characters of [A-Za-z0-9._:-]. The
// set leaves out everything that could break a log line or a header
// (quotes, spaces, control characters, non-ASCII).
func validID(id string) bool {
	if len(id) == 0 || len(id) > maxIDLen {
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

// newID returns a new UUIDv7: time-ordered, so IDs sort by arrival in log
// search.
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// Unreachable since Go 1.24 (crypto/rand.Read does not fail), but a
		// request must never go without an ID: the clock alone still tells
		// requests apart well enough to follow one.
		return "t" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return id.String()
}
