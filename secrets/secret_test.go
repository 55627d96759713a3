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
