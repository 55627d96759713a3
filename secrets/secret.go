package secrets

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

// redacted is what every printing, encoding and logging path shows instead
// of a secret's content.
const redacted = "[REDACTED]"

// Secret holds a secret value that does not print. Every way Go code
// usually turns a value into text shows [REDACTED]: the fmt verbs (%v %+v
// %#v %s %q %x %d …), fmt.Sprint, errors built with %v, encoding/json,
// encoding.TextMarshaler users (encoding/xml, YAML libraries), encoding/gob,
// log/slog (text and JSON handlers, through slog.LogValuer), and zap
// (zap.Any and zap.Stringer pick String; zap.Reflect picks MarshalJSON).
// Reveal is the one deliberate way out, easy to grep for.
//
// The content sits behind a pointer, so even reflection-based printers
// that reach an unexported Secret field without calling its methods print
// an address, never the bytes.
//
// The zero value is an empty secret: Reveal returns "".
type Secret struct{ p *payload }

// payload is immutable once published: readers share it without locks.
type payload struct {
	s   string   // the content, converted once when it was read
	sum [32]byte // SHA-256 of s, to skip rewrites of the same bytes
}

var (
	_ fmt.Formatter  = Secret{}
	_ fmt.Stringer   = Secret{}
	_ fmt.GoStringer = Secret{}
	_ slog.LogValuer = Secret{}
	_ interface {
		MarshalJSON() ([]byte, error)
		MarshalText() ([]byte, error)
		GobEncode() ([]byte, error)
	} = Secret{}
)

// Reveal returns the secret's content. It does not copy or allocate: the
// string was made once when the file was read, so calling Reveal on every
// connection attempt (a pgx BeforeConnect hook, say) costs nothing.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return s.p.s
}

// Bytes returns a copy of the secret's content (nil for the zero Secret).
// The copy is the caller's to use and to clear.
func (s Secret) Bytes() []byte {
	if s.p == nil {
		return nil
	}
	return []byte(s.p.s)
}

// Equal reports whether the secret's content equals b, in time that does
// not depend on where they differ (for comparing presented tokens).
func (s Secret) Equal(b []byte) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), b) == 1
}

// IsZero reports whether the secret is empty: no value has been loaded.
func (s Secret) IsZero() bool { return s.p == nil || s.p.s == "" }

// String returns [REDACTED].
func (Secret) String() string { return redacted }

// GoString returns [REDACTED], for %#v.
func (Secret) GoString() string { return redacted }

// Format writes [REDACTED] for every verb and flag, so no verb (%x, %q, %d
// …) can reach the content.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON encodes the secret as the JSON string "[REDACTED]".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns [REDACTED], for encoders that use
// encoding.TextMarshaler (encoding/xml, YAML, map keys).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// GobEncode encodes [REDACTED], so encoding/gob does not ship the content.
func (Secret) GobEncode() ([]byte, error) { return []byte(redacted), nil }

// LogValue returns [REDACTED] to log/slog, whichever handler formats it.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
