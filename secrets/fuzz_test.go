package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzReadStable: whatever bytes a secret file holds, the read either
// returns exactly them (trimmed if asked), never empty and never over the
// limit, or says why not.
func FuzzReadStable(f *testing.F) {
	f.Add([]byte("s3cr3t\n"), true, uint16(64))
	f.Add([]byte("\r\n\r\n"), true, uint16(64))
	f.Add([]byte(""), false, uint16(0))
	f.Add(bytes.Repeat([]byte{0}, 100), false, uint16(99))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, trim bool, limit uint16) {
		path := filepath.Join(dir, "secret")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := config{maxSize: int64(limit) + 1, trim: trim}
		got, err := readStable(path, &cfg)
		want := data
		if trim {
			want = bytes.TrimRight(data, "\r\n")
		}
		switch {
		case int64(len(data)) > cfg.maxSize:
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%d bytes over a %d limit: err %v", len(data), cfg.maxSize, err)
			}
		case len(want) == 0:
			if !errors.Is(err, ErrEmpty) {
				t.Fatalf("empty content: err %v", err)
			}
		case err != nil || !bytes.Equal(got, want):
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	})
}

// FuzzKeyPair: any cert and key bytes either load as a matching, unexpired
// pair or leave the previous pair in place; nothing panics.
func FuzzKeyPair(f *testing.F) {
	good := newTestCert(f, 1, time.Hour)
	f.Add(good.certPEM, good.keyPEM)
	f.Add(good.certPEM, []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("garbage"), good.keyPEM)
	dir := f.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		c := &Certificate{certFile: certFile, keyFile: keyFile, cfg: newConfig(nil)}
		prev := &keyPair{}
		c.cur.Store(prev)
		changed, err := c.load()
		cur := c.cur.Load()
		switch {
		case err != nil && (changed || cur != prev):
			t.Fatalf("a failed load replaced the pair: %v", err)
		case err == nil && (!changed || cur.cert.Leaf == nil || time.Now().After(cur.cert.Leaf.NotAfter)):
			t.Fatalf("a successful load published %+v (changed %v)", cur, changed)
		}
	})
}
