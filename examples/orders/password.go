package main

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Password file limits: a password is printable text of at most
// maxPassword bytes, so a file truncated, overwritten by a binary or
// pointed at the wrong thing keeps the last good password.
const (
	maxPassword     = 1 << 10
	maxPasswordFile = 4 << 10
)

var errBadPassword = errors.New("orders: password file does not hold a password")

// validPassword accepts printable UTF-8 of at most maxPassword bytes that
// PostgreSQL's SCRAM authentication takes as it is. Its errors say what is
// wrong and where, never what the file holds.
//
// PostgreSQL runs a non-ASCII password through SASLprep (RFC 4013) both
// when it stores a role's password and when a client such as psql logs
// in: it maps some characters to a space or to nothing and applies NFKC,
// so "ﬁ" (a ligature) is stored as "fi", "Ⅻ" as "XII", and a zero-width
// space is dropped. pgx sends such a password without those rewrites, so
// it can never authenticate, however often it is retried. Rather than
// rewrite the password behind the operator's back (and log in with text
// other than the one in the file), validPassword refuses any password that
// SASLprep would change, and any character SASLprep prohibits (invisible
// controls, private use, non-characters, direction overrides: copy and
// paste accidents on which clients disagree). Characters unassigned in
// SASLprep's Unicode 3.2, and text that fails only its bidirectional rule,
// are left alone: the server then keeps the password unchanged, and so
// does every client.
func validPassword(b []byte) error {
	switch {
	case len(b) > maxPassword:
		return fmt.Errorf("%w: longer than %d bytes", errBadPassword, maxPassword)
	case !utf8.Valid(b):
		return fmt.Errorf("%w: not UTF-8 text", errBadPassword)
	}
	ascii := true
	for i, r := range []rune(string(b)) {
		n := i + 1 // characters are counted from 1 for the reader
		switch {
		case unicode.IsControl(r):
			return fmt.Errorf("%w: character %d is a control character", errBadPassword, n)
		case r < utf8.RuneSelf:
			continue
		}
		ascii = false
		switch {
		case unicode.Is(saslprepNothing, r):
			return fmt.Errorf("%w: character %d is an invisible character (such as a zero-width space) that SASLprep removes or turns into a space: "+
				"PostgreSQL would store another password than the file's", errBadPassword, n)
		case unicode.Is(saslprepSpace, r):
			return fmt.Errorf("%w: character %d is a non-ASCII space, which SASLprep turns into an ASCII space: "+
				"PostgreSQL would store another password than the file's; use U+0020", errBadPassword, n)
		case unicode.Is(saslprepProhibited, r):
			return fmt.Errorf("%w: character %d is one SASLprep prohibits (private use, non-character, invisible "+
				"format or direction control)", errBadPassword, n)
		}
	}
	if !ascii && !norm.NFKC.IsNormal(b) {
		return fmt.Errorf("%w: not in Unicode NFKC form (a ligature, Roman numeral, full-width, compatibility or "+
			"decomposed character): PostgreSQL's SASLprep would store another password than the file's; "+
			"write the password in NFKC form", errBadPassword)
	}
	return nil
}

// The tables of RFC 3454 that SASLprep (RFC 4013) uses, but for
// unassigned code points (A.1): see validPassword.
var (
	// C.1.2, non-ASCII space characters: mapped to U+0020. U+200B is in
	// B.1 too; PostgreSQL maps it to a space.
	saslprepSpace = &unicode.RangeTable{R16: []unicode.Range16{
		{Lo: 0x00a0, Hi: 0x00a0, Stride: 1},
		{Lo: 0x1680, Hi: 0x1680, Stride: 1},
		{Lo: 0x2000, Hi: 0x200b, Stride: 1},
		{Lo: 0x202f, Hi: 0x202f, Stride: 1},
		{Lo: 0x205f, Hi: 0x205f, Stride: 1},
		{Lo: 0x3000, Hi: 0x3000, Stride: 1},
	}}
	// B.1, commonly mapped to nothing.
	saslprepNothing = &unicode.RangeTable{R16: []unicode.Range16{
		{Lo: 0x00ad, Hi: 0x00ad, Stride: 1},
		{Lo: 0x034f, Hi: 0x034f, Stride: 1},
		{Lo: 0x1806, Hi: 0x1806, Stride: 1},
		{Lo: 0x180b, Hi: 0x180d, Stride: 1},
		{Lo: 0x200b, Hi: 0x200d, Stride: 1},
		{Lo: 0x2060, Hi: 0x2060, Stride: 1},
		{Lo: 0xfe00, Hi: 0xfe0f, Stride: 1},
		{Lo: 0xfeff, Hi: 0xfeff, Stride: 1},
	}}
	// C.2.2 non-ASCII controls, C.3 private use, C.4 non-characters, C.5
	// surrogates (never valid UTF-8), C.6 inappropriate for plain text, C.7
	// inappropriate for canonical representation, C.8 display-changing or
	// deprecated, C.9 tagging.
	saslprepProhibited = &unicode.RangeTable{
		R16: []unicode.Range16{
			{Lo: 0x0080, Hi: 0x009f, Stride: 1},
			{Lo: 0x0340, Hi: 0x0341, Stride: 1},
			{Lo: 0x06dd, Hi: 0x06dd, Stride: 1},
			{Lo: 0x070f, Hi: 0x070f, Stride: 1},
			{Lo: 0x180e, Hi: 0x180e, Stride: 1},
			{Lo: 0x200c, Hi: 0x200f, Stride: 1},
			{Lo: 0x2028, Hi: 0x202e, Stride: 1},
			{Lo: 0x2060, Hi: 0x2063, Stride: 1},
			{Lo: 0x206a, Hi: 0x206f, Stride: 1},
			{Lo: 0x2ff0, Hi: 0x2ffb, Stride: 1},
			{Lo: 0xd800, Hi: 0xf8ff, Stride: 1},
			{Lo: 0xfdd0, Hi: 0xfdef, Stride: 1},
			{Lo: 0xfeff, Hi: 0xfeff, Stride: 1},
			{Lo: 0xfff9, Hi: 0xffff, Stride: 1},
		},
		R32: []unicode.Range32{
			{Lo: 0x1d173, Hi: 0x1d17a, Stride: 1},
			{Lo: 0x1fffe, Hi: 0x1ffff, Stride: 1},
			{Lo: 0x2fffe, Hi: 0x2ffff, Stride: 1},
			{Lo: 0x3fffe, Hi: 0x3ffff, Stride: 1},
			{Lo: 0x4fffe, Hi: 0x4ffff, Stride: 1},
			{Lo: 0x5fffe, Hi: 0x5ffff, Stride: 1},
			{Lo: 0x6fffe, Hi: 0x6ffff, Stride: 1},
			{Lo: 0x7fffe, Hi: 0x7ffff, Stride: 1},
			{Lo: 0x8fffe, Hi: 0x8ffff, Stride: 1},
			{Lo: 0x9fffe, Hi: 0x9ffff, Stride: 1},
			{Lo: 0xafffe, Hi: 0xaffff, Stride: 1},
			{Lo: 0xbfffe, Hi: 0xbffff, Stride: 1},
			{Lo: 0xcfffe, Hi: 0xcffff, Stride: 1},
			{Lo: 0xdfffe, Hi: 0xdffff, Stride: 1},
			{Lo: 0xe0001, Hi: 0xe0001, Stride: 1},
			{Lo: 0xe0020, Hi: 0xe007f, Stride: 1},
			{Lo: 0xefffe, Hi: 0x10ffff, Stride: 1},
		},
	}
)
