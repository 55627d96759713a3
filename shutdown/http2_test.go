package shutdown

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// selfSigned returns a key pair for the host name "pipe" and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pipe"},
		DNSNames:     []string{"pipe"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// Over HTTP/2 the "Connection: close" that Serve adds once draining is
// not sent (RFC 9113 forbids connection-specific fields) and is not an
// error: Go's HTTP/2 server strips it and sends GOAWAY, so the client
// finishes what it has in flight on that connection and opens a new one
// for its next request. This runs Go's real TLS and HTTP/2 stack over the
// in-memory network.
func TestServingDuringDrainHTTP2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cert, pool := selfSigned(t)
		var fake fakeOS
		m := New(fake.option(), quiet(), DrainDelay(2*time.Second))
		pn := newPipeNet(t)
		pn.tr.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "pipe", MinVersion: tls.VersionTLS12}
		pn.tr.ForceAttemptHTTP2 = true
		srv := testServer()
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		m.Serve(srv, pn)

		get := func(path string) (string, http.Header, error) {
			resp, err := (&http.Client{Transport: pn.tr}).Get("https://pipe" + path)
			if err != nil {
				return "", nil, err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil && (resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2) {
				err = fmt.Errorf("status %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
			}
			return string(b), resp.Header, err
		}

		if _, _, err := get("/fast"); err != nil {
			t.Fatalf("before the signal: %v", err)
		}
		slow := make(chan error, 1)
		go func() {
			body, _, err := get("/slow?d=3s")
			if err == nil && body != "done after 3s" {
				err = errors.New("truncated body " + body)
			}
			slow <- err
		}()
		synctest.Wait() // the slow request is in flight on the one connection
		fake.send(t, syscall.SIGTERM)

		time.Sleep(time.Second) // inside the drain
		_, h, err := get("/fast")
		if err != nil {
			t.Fatalf("during the drain: %v", err)
		}
		if v, ok := h["Connection"]; ok {
			t.Errorf("an HTTP/2 response carried Connection: %q", v)
		}
		if n := pn.dials.Load(); n != 1 {
			t.Errorf("%d connections dialled before the GOAWAY, want 1 (multiplexed)", n)
		}
		synctest.Wait() // the client has read the GOAWAY
		if _, _, err := get("/fast"); err != nil {
			t.Errorf("after the GOAWAY, still in the drain: %v", err)
		}
		if n := pn.dials.Load(); n != 2 {
			t.Errorf("%d connections dialled after the GOAWAY, want 2: the client kept the old one", n)
		}
		if err := <-slow; err != nil {
			t.Errorf("request in flight on the connection that got GOAWAY: %v", err)
		}
		if err := m.Wait(); err != nil {
			t.Errorf("Wait: %v", err)
		}
		pn.tr.CloseIdleConnections()
	})
}
