package httpjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds how deeply a body may nest: checkKeys recurses once per
// level, and no request of these services nests more than a few.
const maxDepth = 32

// checkKeys reads body as one JSON value and refuses, in its objects, a
// key seen twice, and a key that t (the type the body decodes into) does
// not have under exactly that name. It also refuses what is not one JSON
// value: malformed or empty input, or data after the value.
func checkKeys(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers are not converted: only the keys matter here
	if err := walk(dec, t, "", 0); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("request body is empty")
		}
		return err
	}
	// Only the end of the body may follow. dec.More would miss a stray
	// "}" or "]", which it reads as the end of an enclosing value.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// walk reads one value from dec; t is the Go type it decodes into, nil
// when any key goes (maps, interfaces, custom unmarshalers). path names
// the value in errors: "" for the body, then "a.b" for key b in a.
func walk(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return malformed(err, depth)
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	if depth == maxDepth {
		return fmt.Errorf("JSON nested deeper than %d levels", maxDepth)
	}
	t = underlying(t)
	switch delim {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := walk(dec, elem, path, depth+1); err != nil {
				return err
			}
		}
	case '{':
		fields, elem := members(t)
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return malformed(err, depth+1)
			}
			key, _ := tok.(string) // Token returns only strings for keys
			name := join(path, key)
			if seen[key] {
				return fmt.Errorf("duplicate key %s", quote(name))
			}
			seen[key] = true
			vt := elem
			if fields != nil {
				var known bool
				if vt, known = fields[key]; !known {
					return unknownKey(name, key, fields)
				}
			}
			if err := walk(dec, vt, name, depth+1); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return malformed(err, depth+1)
	}
	return nil
}

// malformed turns a Token error into the error to answer: the end of the
// input inside a value is an unexpected end, not an empty body.
func malformed(err error, depth int) error {
	if errors.Is(err, io.EOF) {
		if depth == 0 {
			return err
		}
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

func unknownKey(name, key string, fields map[string]reflect.Type) error {
	for f := range fields {
		if strings.EqualFold(f, key) {
			return fmt.Errorf("unknown key %s: keys are case-sensitive, did you mean %s?", quote(name), strconv.Quote(f))
		}
	}
	return fmt.Errorf("unknown key %s", quote(name))
}

var (
	unmarshaler     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// underlying returns t without pointers, or nil when t decides for itself
// what its JSON means (interfaces, custom unmarshalers): nil allows any
// key.
func underlying(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Kind() == reflect.Interface || t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler) ||
			t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
			return nil
		}
		if t.Kind() != reflect.Pointer {
			return t
		}
		t = t.Elem()
	}
	return nil
}

// members returns, for a struct, the keys it decodes from and their
// types; for a map, nil and the type of its values; otherwise nil, nil.
func members(t reflect.Type) (map[string]reflect.Type, reflect.Type) {
	switch {
	case t == nil:
		return nil, nil
	case t.Kind() == reflect.Map:
		return nil, t.Elem()
	case t.Kind() != reflect.Struct:
		// Decoding an object into anything else is a type error, which
		// json.Decode reports.
		return nil, nil
	}
	fields := map[string]reflect.Type{}
	addFields(fields, t, 0)
	return fields, nil
}

// addFields adds t's fields the way encoding/json names them: the tag's
// name, or the field's; untagged embedded structs promote theirs, where
// no shallower field has the name.
func addFields(fields map[string]reflect.Type, t reflect.Type, depth int) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			embedded = append(embedded, ft)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, taken := fields[name]; !taken {
			fields[name] = f.Type
		}
	}
	if depth < maxDepth {
		for _, e := range embedded {
			addFields(fields, e, depth+1)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// maxQuoted bounds how much of a client's key an error repeats.
const maxQuoted = 64

// quote quotes name for an error text, cut to maxQuoted bytes.
func quote(name string) string {
	if len(name) <= maxQuoted {
		return strconv.Quote(name)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return strconv.Quote(name[:cut]) + "…"
}
