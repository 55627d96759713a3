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
// The content is out of reach of reflection: it is captured by a func,
// and a reflection-based printer that walks into a Secret held in an
// unexported field (where fmt cannot call the methods above) finds only
// the address of that func, with every verb, never the bytes. A plain
// pointer would not do: fmt prints what a pointer points to for a verb
// that does not fit it (%s of a struct field prints &{…}).
//
// The zero value is an empty secret: Reveal returns "". Secrets are
// comparable: two are == when they are the same read of the same file.
type Secret struct{ r *reveal }

// reveal returns the content. It is immutable once published: readers
// share it without locks.
type reveal func() string

// newSecret captures s for the Secrets of one read.
func newSecret(s string) *reveal {
	r := reveal(func() string { return s })
	return &r
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
	if s.r == nil {
		return ""
	}
	return (*s.r)()
}

// Bytes returns a copy of the secret's content (nil for the zero Secret).
// The copy is the caller's to use and to clear.
func (s Secret) Bytes() []byte {
	if s.r == nil {
		return nil
	}
	return []byte((*s.r)())
}

// Equal reports whether the secret's content equals b, in time that does
// not depend on where they differ (for comparing presented tokens).
func (s Secret) Equal(b []byte) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), b) == 1
}

// IsZero reports whether the secret is empty: no value has been loaded.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

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
