//go:build unix

package secrets

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustCertificate(t *testing.T, certFile, keyFile string, opts ...Option) *Certificate {
	t.Helper()
	c, err := NewCertificate(t.Context(), certFile, keyFile, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestCertificateLiveRotation rotates a live server's certificate twice,
// once by the Kubernetes swap and once by replacing the two files one
// after the other (a mismatched pair in between), while clients open new
// connections in a loop: no handshake fails, and every connection begun
// after a rotation was seen sees the new certificate.
func TestCertificateLiveRotation(t *testing.T) {
	t.Parallel()
	gens := []testCert{newTestCert(t, 1, time.Hour), newTestCert(t, 2, 2*time.Hour), newTestCert(t, 3, 3*time.Hour)}
	roots := x509.NewCertPool()
	for _, g := range gens {
		roots.AddCert(g.leaf)
	}
	k := newKubeWriter(t, false)
	k.write(gens[0].files())
	c := mustCertificate(t, k.path("tls.crt"), k.path("tls.key"), fastEvents...)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{GetCertificate: c.GetCertificate, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true, // every request is a new handshake
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12},
	}}
	defer client.CloseIdleConnections()

	type conn struct {
		began  time.Time
		serial int64
	}
	var (
		mu       sync.Mutex
		conns    []conn
		failures []error
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				began := time.Now()
				resp, err := client.Get(srv.URL)
				mu.Lock()
				if err != nil {
					failures = append(failures, err)
				} else {
					conns = append(conns, conn{began, resp.TLS.PeerCertificates[0].SerialNumber.Int64()})
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
				mu.Unlock()
			}
		})
	}
	countSince := func(since time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range conns {
			if c.began.After(since) {
				n++
			}
		}
		return n
	}
	seenAt := make([]time.Time, len(gens)) // when NotAfter showed each generation
	seenAt[0] = time.Now()
	waitFor(t, "handshakes with the first certificate", func() bool { return countSince(seenAt[0]) >= 20 })

	k.write(gens[1].files())
	waitFor(t, "the second certificate", func() bool { return c.NotAfter().Equal(gens[1].leaf.NotAfter) })
	seenAt[1] = time.Now()
	waitFor(t, "handshakes with the second certificate", func() bool { return countSince(seenAt[1]) >= 20 })

	// Replace the files one at a time: a new cert with the old key first.
	gen := filepath.Join(k.dir, mustReadlink(t, filepath.Join(k.dir, "..data")))
	writeFile(t, filepath.Join(gen, "tls.crt"), string(gens[2].certPEM))
	time.Sleep(20 * time.Millisecond) // the writer's gap between the two files
	writeFile(t, filepath.Join(gen, "tls.key"), string(gens[2].keyPEM))
	waitFor(t, "the third certificate", func() bool { return c.NotAfter().Equal(gens[2].leaf.NotAfter) })
	seenAt[2] = time.Now()
	waitFor(t, "handshakes with the third certificate", func() bool { return countSince(seenAt[2]) >= 20 })
	stop.Store(true)
	wg.Wait()

	if len(failures) > 0 {
		t.Fatalf("%d of %d handshakes failed during rotation, first: %v", len(failures), len(failures)+len(conns), failures[0])
	}
	for _, cn := range conns {
		for g := len(gens) - 1; g >= 1; g-- {
			if cn.began.After(seenAt[g]) {
				if cn.serial < int64(g+1) {
					t.Fatalf("a connection begun after generation %d was seen got serial %d", g+1, cn.serial)
				}
				break
			}
		}
	}
	t.Logf("%d handshakes, none failed", len(conns))
}

func mustReadlink(t *testing.T, path string) string {
	t.Helper()
	target, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

func TestCertificateKeepsLastGoodPair(t *testing.T) {
	t.Parallel()
	good := newTestCert(t, 1, time.Hour)
	next := newTestCert(t, 2, 2*time.Hour)
	expired := newTestCert(t, 3, -time.Hour)
	tests := []struct {
		name    string
		cert    []byte
		key     []byte
		opts    []Option
		wantErr error // nil: any error
	}{
		{name: "mismatched pair", cert: next.certPEM, key: good.keyPEM},
		{name: "garbage certificate", cert: []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), key: next.keyPEM},
		{name: "empty key", cert: next.certPEM, key: nil, wantErr: ErrEmpty},
		{name: "expired certificate", cert: expired.certPEM, key: expired.keyPEM, wantErr: ErrExpired},
		{name: "rejected by the validator", cert: next.certPEM, key: next.keyPEM, opts: []Option{Validate(func([]byte) error { return errRejected })}, wantErr: errRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
			writeFile(t, certFile, string(good.certPEM))
			writeFile(t, keyFile, string(good.keyPEM))
			// The validator, if any, rejects only what comes after the start.
			var started atomic.Bool
			opts := append(fastEvents, tt.opts...)
			if len(tt.opts) > 0 {
				opts = append(fastEvents, Validate(func(b []byte) error {
					if !started.Load() {
						return nil
					}
					return errRejected
				}))
			}
			c := mustCertificate(t, certFile, keyFile, opts...)
			started.Store(true)
			writeFile(t, keyFile, string(tt.key))
			writeFile(t, certFile, string(tt.cert))
			// The two writes may be read apart (a mismatch first): wait for
			// the error of the pair as it ends up.
			waitFor(t, "the failed reload's error", func() bool {
				err := c.Check(t.Context())
				return err != nil && (tt.wantErr == nil || errors.Is(err, tt.wantErr))
			})
			got, err := c.GetCertificate(nil)
			if err != nil || got.Leaf.SerialNumber.Int64() != 1 || !c.NotAfter().Equal(good.leaf.NotAfter) {
				t.Fatalf("GetCertificate = serial %v, %v; want the last good pair", got.Leaf.SerialNumber, err)
			}
			if len(tt.opts) > 0 {
				return // the validator rejects everything from now on
			}
			writeFile(t, keyFile, string(next.keyPEM))
			writeFile(t, certFile, string(next.certPEM))
			waitFor(t, "the good pair", func() bool { return c.NotAfter().Equal(next.leaf.NotAfter) })
		})
	}
}

func TestCertificateStartErrors(t *testing.T) {
	t.Parallel()
	good := newTestCert(t, 1, time.Hour)
	other := newTestCert(t, 2, time.Hour)
	expired := newTestCert(t, 3, -time.Minute)
	tests := []struct {
		name      string
		cert, key []byte
		want      error // nil: any error
	}{
		{name: "mismatched", cert: good.certPEM, key: other.keyPEM},
		{name: "expired", cert: expired.certPEM, key: expired.keyPEM, want: ErrExpired},
		{name: "empty certificate", cert: nil, key: good.keyPEM, want: ErrEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "c"), string(tt.cert))
			writeFile(t, filepath.Join(dir, "k"), string(tt.key))
			c, err := NewCertificate(t.Context(), filepath.Join(dir, "c"), filepath.Join(dir, "k"))
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || c != nil {
				t.Fatalf("NewCertificate = %v, %v; want %v", c, err, tt.want)
			}
		})
	}
}

func TestCertificateWaitForFile(t *testing.T) {
	t.Parallel()
	k := newKubeWriter(t, true)
	k.write(map[string]string{"ca.crt": "placeholder"})
	c := mustCertificate(t, k.path("tls.crt"), k.path("tls.key"), append(fastEvents, WaitForFile(true))...)
	if _, err := c.GetCertificate(nil); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("GetCertificate before any pair = %v, want ErrNotLoaded", err)
	}
	if !c.NotAfter().IsZero() {
		t.Fatal("NotAfter before any pair")
	}
	cert := newTestCert(t, 7, time.Hour)
	k.write(cert.files())
	waitFor(t, "the pair", func() bool { return c.Check(t.Context()) == nil })
	got, err := c.GetClientCertificate(nil)
	if err != nil || got.Leaf.SerialNumber.Int64() != 7 {
		t.Fatalf("GetClientCertificate = %v, %v", got, err)
	}
}

// TestCertificateClientSide: mutual TLS with the client's certificate from
// GetClientCertificate.
func TestCertificateClientSide(t *testing.T) {
	t.Parallel()
	clientCert := newTestCert(t, 42, time.Hour)
	k := newKubeWriter(t, false)
	k.write(clientCert.files())
	c := mustCertificate(t, k.path("tls.crt"), k.path("tls.key"), fastEvents...)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(clientCert.leaf)

	var gotSerial atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		gotSerial.Store(r.TLS.PeerCertificates[0].SerialNumber.Int64())
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.GetClientCertificate = c.GetClientCertificate
	client := &http.Client{Transport: tr}
	defer client.CloseIdleConnections()
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if gotSerial.Load() != 42 {
		t.Fatalf("server saw client serial %d, want 42", gotSerial.Load())
	}
}

func TestResolvePair(t *testing.T) {
	t.Parallel()
	k := newKubeWriter(t, false)
	k.write(map[string]string{"tls.crt": "c", "tls.key": "k"})
	gen := filepath.Join(k.dir, mustReadlink(t, filepath.Join(k.dir, "..data")))
	plain := t.TempDir()
	tests := []struct {
		name              string
		cert, key         string
		wantCert, wantKey string
	}{
		{name: "Kubernetes volume: through ..data", cert: k.path("tls.crt"), key: k.path("tls.key"),
			wantCert: filepath.Join(gen, "tls.crt"), wantKey: filepath.Join(gen, "tls.key")},
		{name: "plain files: as given", cert: filepath.Join(plain, "c"), key: filepath.Join(plain, "k"),
			wantCert: filepath.Join(plain, "c"), wantKey: filepath.Join(plain, "k")},
		{name: "different directories: as given", cert: k.path("tls.crt"), key: filepath.Join(plain, "k"),
			wantCert: k.path("tls.crt"), wantKey: filepath.Join(plain, "k")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, key := resolvePair(tt.cert, tt.key)
			if c != tt.wantCert || key != tt.wantKey {
				t.Fatalf("resolvePair = %s, %s; want %s, %s", c, key, tt.wantCert, tt.wantKey)
			}
		})
	}
}

// A pair whose NotBefore is still ahead (the issuer's clock a little ahead
// of this host's) is served, at start and on rotation: it is the newest
// pair there is, and holding it back would leave the rotation to a poll
// that may be off. An expired pair is refused (TestCertificateStartErrors,
// TestCertificateKeepsLastGoodPair).
func TestCertificateNotYetValid(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	early := newTestCertValid(t, 1, now.Add(time.Minute), now.Add(time.Hour))
	later := newTestCertValid(t, 2, now.Add(2*time.Minute), now.Add(2*time.Hour))
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeFile(t, certFile, string(early.certPEM))
	writeFile(t, keyFile, string(early.keyPEM))
	c := mustCertificate(t, certFile, keyFile, fastEvents...)
	if got := c.NotAfter(); !got.Equal(early.leaf.NotAfter) {
		t.Fatalf("NotAfter = %v at start, want the not-yet-valid pair's %v", got, early.leaf.NotAfter)
	}
	writeFile(t, keyFile, string(later.keyPEM))
	writeFile(t, certFile, string(later.certPEM))
	waitFor(t, "the rotated not-yet-valid pair", func() bool { return c.NotAfter().Equal(later.leaf.NotAfter) })
	if err := c.Check(t.Context()); err != nil {
		t.Errorf("Check = %v, want nil", err)
	}
}

func BenchmarkGetCertificateParallel(b *testing.B) {
	dir := b.TempDir()
	cert := newTestCert(b, 1, time.Hour)
	writeFile(b, filepath.Join(dir, "tls.crt"), string(cert.certPEM))
	writeFile(b, filepath.Join(dir, "tls.key"), string(cert.keyPEM))
	c, err := NewCertificate(b.Context(), filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetCertificate(nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
