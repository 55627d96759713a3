package secrets_test

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/secrets"
)

const password = "hunter2-s3cr3t"

// secret returns a Secret holding password, through the public API.
func secret(t testing.TB) secrets.Secret {
	t.Helper()
	path := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(path, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := secrets.Watch(t.Context(), path, secrets.PollInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f.Value()
}

type config struct {
	User     string
	Password secrets.Secret
}

type hidden struct {
	user     string
	password secrets.Secret
}

func zapLine(t *testing.T, console bool, fields ...zap.Field) string {
	var buf bytes.Buffer
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	if console {
		enc = zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	}
	zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zap.DebugLevel)).Info("connect", fields...)
	return buf.String()
}

func slogLine(json bool, args ...any) string {
	var buf bytes.Buffer
	var h slog.Handler = slog.NewTextHandler(&buf, nil)
	if json {
		h = slog.NewJSONHandler(&buf, nil)
	}
	slog.New(h).Info("connect", args...)
	return buf.String()
}

func TestRedaction(t *testing.T) {
	s := secret(t)
	must := func(b []byte, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name         string
		render       func() string
		wantRedacted bool // false: only that the content does not show
	}{
		{"%v", func() string { return fmt.Sprintf("%v", s) }, true},
		{"%+v", func() string { return fmt.Sprintf("%+v", s) }, true},
		{"%#v", func() string { return fmt.Sprintf("%#v", s) }, true},
		{"%s", func() string { return fmt.Sprintf("%s", s) }, true},
		{"%q", func() string { return fmt.Sprintf("%q", s) }, true},
		{"%x", func() string { return fmt.Sprintf("%x", s) }, true},
		{"%X", func() string { return fmt.Sprintf("%X", s) }, true},
		{"%d", func() string { return fmt.Sprintf("%d", s) }, true},
		{"%T and width", func() string { return fmt.Sprintf("%T %20.4v", s, s) }, true},
		{"pointer %v", func() string { return fmt.Sprintf("%v", &s) }, true},
		{"fmt.Sprint", func() string { return fmt.Sprint(s) }, true},
		{"fmt.Sprintln", func() string { return fmt.Sprintln("pw", s) }, true},
		{"fmt.Errorf", func() string { return fmt.Errorf("login with %v failed", s).Error() }, true},
		{"String", func() string { return s.String() }, true},
		{"exported field %+v", func() string { return fmt.Sprintf("%+v", config{"app", s}) }, true},
		{"exported field %#v", func() string { return fmt.Sprintf("%#v", config{"app", s}) }, true},
		{"exported field %v via pointer", func() string { return fmt.Sprintf("%v", &config{"app", s}) }, true},
		{"unexported field %+v", func() string { return fmt.Sprintf("%+v", hidden{"app", s}) }, false},
		{"unexported field %#v", func() string { return fmt.Sprintf("%#v", hidden{"app", s}) }, false},
		{"slice and map", func() string { return fmt.Sprintf("%v %v", []secrets.Secret{s}, map[string]secrets.Secret{"pw": s}) }, true},
		{"log.Printf", func() string {
			var buf bytes.Buffer
			log.New(&buf, "", 0).Printf("pw=%v", s)
			return buf.String()
		}, true},
		{"json.Marshal", func() string { return must(json.Marshal(s)) }, true},
		{"json.Marshal struct", func() string { return must(json.Marshal(config{"app", s})) }, true},
		{"json.Marshal map", func() string { return must(json.Marshal(map[string]any{"pw": s})) }, true},
		{"MarshalText", func() string { return must(s.MarshalText()) }, true},
		{"xml.Marshal", func() string { return must(xml.Marshal(config{"app", s})) }, true},
		{"gob", func() string {
			var buf bytes.Buffer
			if err := gob.NewEncoder(&buf).Encode(config{"app", s}); err != nil {
				t.Fatal(err)
			}
			return buf.String()
		}, true},
		{"slog text", func() string { return slogLine(false, "pw", s) }, true},
		{"slog JSON", func() string { return slogLine(true, "pw", s) }, true},
		{"slog text struct", func() string { return slogLine(false, "cfg", config{"app", s}) }, true},
		{"slog JSON struct", func() string { return slogLine(true, "cfg", config{"app", s}) }, true},
		{"slog group", func() string { return slogLine(true, slog.Group("db", slog.Any("pw", s))) }, true},
		{"zap.Any", func() string { return zapLine(t, false, zap.Any("pw", s)) }, true},
		{"zap.Stringer", func() string { return zapLine(t, false, zap.Stringer("pw", s)) }, true},
		{"zap.Reflect", func() string { return zapLine(t, false, zap.Reflect("pw", s)) }, true},
		{"zap.Any struct", func() string { return zapLine(t, false, zap.Any("cfg", config{"app", s})) }, true},
		{"zap.Any pointer", func() string { return zapLine(t, false, zap.Any("pw", &s)) }, true},
		{"zap console", func() string { return zapLine(t, true, zap.Any("pw", s)) }, true},
		{"zap sugar", func() string {
			var buf bytes.Buffer
			core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zap.DebugLevel)
			zap.New(core).Sugar().Infow("connect", "pw", s, "cfg", config{"app", s})
			zap.New(core).Sugar().Infof("pw %v", s)
			return buf.String()
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := tt.render()
			if strings.Contains(out, password) || strings.Contains(out, fmt.Sprintf("%x", password)) {
				t.Fatalf("leaked: %s", out)
			}
			if tt.wantRedacted && !strings.Contains(out, "[REDACTED]") {
				t.Fatalf("no [REDACTED] in %s", out)
			}
		})
	}
}

// holders are the shapes a Secret sits in inside a user's values, exported
// and not: fmt calls a Secret's methods only where it can reach them (an
// exported path); elsewhere it walks the value by reflection.
type (
	unexported    struct{ pw secrets.Secret }
	unexportedPtr struct{ pw *secrets.Secret }
	unexportedAny struct{ pw any }
	nested        struct {
		name  string
		inner unexported
		list  []secrets.Secret
		byKey map[string]secrets.Secret
		arr   [1]secrets.Secret
	}
	Exported struct {
		PW    secrets.Secret
		Ptr   *secrets.Secret
		Inner unexported
	}
	embedded struct{ secrets.Secret }
)

// TestRedactionMatrix prints a Secret in every shape with every fmt verb
// and flag, and encodes it with every reflection-based encoder and logger:
// the content, its hex and its quoted form appear nowhere.
func TestRedactionMatrix(t *testing.T) {
	s := secret(t)
	shapes := map[string]any{
		"value":                    s,
		"pointer":                  &s,
		"unexported field":         unexported{s},
		"unexported field, ptr":    &unexported{s},
		"unexported pointer":       unexportedPtr{&s},
		"unexported interface":     unexportedAny{s},
		"unexported interface ptr": unexportedAny{&s},
		"nested":                   nested{"app", unexported{s}, []secrets.Secret{s}, map[string]secrets.Secret{"pw": s}, [1]secrets.Secret{s}},
		"nested ptr":               &nested{"app", unexported{s}, []secrets.Secret{s}, map[string]secrets.Secret{"pw": s}, [1]secrets.Secret{s}},
		"exported fields":          Exported{s, &s, unexported{s}},
		"embedded":                 embedded{s},
		"slice":                    []secrets.Secret{s},
		"slice of holders":         []unexported{{s}},
		"map value":                map[string]unexported{"db": {s}},
		"map key":                  map[secrets.Secret]int{s: 1},
		"map key in holder":        map[unexported]int{{s}: 1},
		"array":                    [2]unexported{{s}, {s}},
		"any slice":                []any{s, unexported{s}},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%d", "%b", "%o", "%O", "%c", "%U", "%e", "%f", "%g", "%t", "%p", "%T", "%10.3s", "%-20q", "%#x", "%+q", "%#q", "%08d", "%w"}
	leaks := []string{password, fmt.Sprintf("%x", password), fmt.Sprintf("%X", password), fmt.Sprintf("% x", password)[:20], strings.Trim(fmt.Sprintf("%q", password), `"`)}
	check := func(t *testing.T, out string) {
		t.Helper()
		for _, l := range leaks {
			if strings.Contains(out, l) {
				t.Fatalf("leaked %q: %s", l, out)
			}
		}
	}
	for name, v := range shapes {
		t.Run(name, func(t *testing.T) {
			for _, verb := range verbs {
				if verb == "%w" {
					check(t, fmt.Errorf(verb, v).Error())
					continue
				}
				check(t, fmt.Sprintf(verb, v))
			}
			check(t, fmt.Sprint(v))
			check(t, fmt.Sprintln(v))
			if b, err := json.Marshal(v); err == nil {
				check(t, string(b))
			}
			var buf bytes.Buffer
			_ = gob.NewEncoder(&buf).Encode(v) // unexported-only types are refused: nothing to leak
			check(t, buf.String())
			check(t, slogLine(false, "v", v))
			check(t, slogLine(true, "v", v))
			check(t, zapLine(t, false, zap.Any("v", v)))
			check(t, zapLine(t, false, zap.Reflect("v", v)))
			check(t, zapLine(t, true, zap.Any("v", v)))
			var sugared bytes.Buffer
			core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&sugared), zap.DebugLevel)
			zap.New(core).Sugar().Infow("connect", "v", v)
			zap.New(core).Sugar().Infof("%+v %s", v, v)
			check(t, sugared.String())
		})
	}
}

// TestUnreachableByReflection walks a Secret the way any reflection-based
// printer can (go-spew, pretty-printers, assertion diffs): through every
// pointer, interface, field, element and map entry, exported or not. No
// string or byte it reaches holds the content.
func TestUnreachableByReflection(t *testing.T) {
	s := secret(t)
	var walk func(v reflect.Value, depth int)
	walk = func(v reflect.Value, depth int) {
		if depth > 20 || !v.IsValid() {
			return
		}
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			walk(v.Elem(), depth+1)
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i), depth+1)
			}
		case reflect.Slice, reflect.Array:
			if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 && strings.Contains(string(v.Bytes()), password) {
				t.Fatalf("reached the content as bytes at depth %d", depth)
			}
			for i := range v.Len() {
				walk(v.Index(i), depth+1)
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(k, depth+1)
				walk(v.MapIndex(k), depth+1)
			}
		case reflect.String:
			if strings.Contains(v.String(), password) {
				t.Fatalf("reached the content as a string at depth %d", depth)
			}
		case reflect.Func:
			// What a func captured is out of reflection's reach.
		}
	}
	walk(reflect.ValueOf(nested{"app", unexported{s}, []secrets.Secret{s}, map[string]secrets.Secret{"pw": s}, [1]secrets.Secret{s}}), 0)
	walk(reflect.ValueOf(&s), 0)
}

func TestReveal(t *testing.T) {
	s := secret(t)
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"Reveal", s.Reveal(), password},
		{"Bytes", string(s.Bytes()), password},
		{"zero Reveal", secrets.Secret{}.Reveal(), ""},
		{"zero Bytes", string(secrets.Secret{}.Bytes()), ""},
		{"zero prints redacted", fmt.Sprint(secrets.Secret{}), "[REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	t.Run("Bytes is a copy", func(t *testing.T) {
		b := s.Bytes()
		clear(b)
		if s.Reveal() != password {
			t.Fatal("clearing Bytes changed the secret")
		}
	})
	t.Run("Equal", func(t *testing.T) {
		if !s.Equal([]byte(password)) || s.Equal([]byte("hunter2")) || s.Equal(nil) {
			t.Fatal("Equal disagrees with the content")
		}
	})
	t.Run("IsZero", func(t *testing.T) {
		if s.IsZero() || !(secrets.Secret{}).IsZero() {
			t.Fatal("IsZero wrong")
		}
	})
}
