package secrets_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/prodready/prodready/secrets"
)

func ExampleWatch() {
	dir, _ := os.MkdirTemp("", "example")
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "db-password")
	// As kubectl create secret --from-file leaves it: with a newline.
	_ = os.WriteFile(path, []byte("s3cr3t\n"), 0o600)

	ctx := context.Background()
	pw, err := secrets.Watch(ctx, path, secrets.TrimNewline(true))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = pw.Close() }()

	fmt.Println(pw.Value())                 // printing is safe
	fmt.Printf("%q\n", pw.Value().Reveal()) // Reveal is the way out
	fmt.Println(pw.Check(ctx))
	// Output:
	// [REDACTED]
	// "s3cr3t"
	// <nil>
}

func ExampleFile_Subscribe() {
	dir, _ := os.MkdirTemp("", "example")
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "api-token")
	_ = os.WriteFile(path, []byte("token-1"), 0o600)

	token, err := secrets.Watch(context.Background(), path)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = token.Close() }()
	rotated := make(chan string, 1)
	token.Subscribe(func(s secrets.Secret) { rotated <- s.Reveal() })

	// Rotate the way Vault Agent does: write a new file, rename it over.
	_ = os.WriteFile(path+".tmp", []byte("token-2"), 0o600)
	_ = os.Rename(path+".tmp", path)

	fmt.Println("rotated to", <-rotated)
	fmt.Println("Value:", token.Value().Reveal())
	// Output:
	// rotated to token-2
	// Value: token-2
}

func ExampleSecret() {
	dir, _ := os.MkdirTemp("", "example")
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "password")
	_ = os.WriteFile(path, []byte("hunter2"), 0o600)
	f, err := secrets.Watch(context.Background(), path)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = f.Close() }()

	cfg := struct {
		User     string
		Password secrets.Secret
	}{"app", f.Value()}
	fmt.Printf("%+v\n", cfg)
	out, _ := json.Marshal(cfg)
	fmt.Println(string(out))
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	logger.Info("connecting", "password", cfg.Password)
	// Output:
	// {User:app Password:[REDACTED]}
	// {"User":"app","Password":"[REDACTED]"}
	// level=INFO msg=connecting password=[REDACTED]
}

func ExampleNewCertificate() {
	dir, _ := os.MkdirTemp("", "example")
	defer func() { _ = os.RemoveAll(dir) }()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeSelfSigned(certFile, keyFile, "api.example.com")

	cert, err := secrets.NewCertificate(context.Background(), certFile, keyFile)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = cert.Close() }()
	// srv.TLSConfig = &tls.Config{GetCertificate: cert.GetCertificate}
	cfg := &tls.Config{GetCertificate: cert.GetCertificate, MinVersion: tls.VersionTLS12}
	current, _ := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: "api.example.com"})
	fmt.Println("serving", current.Leaf.Subject.CommonName)
	fmt.Println("expires in under 25h:", time.Until(cert.NotAfter()) < 25*time.Hour)
	// Output:
	// serving api.example.com
	// expires in under 25h: true
}

// writeSelfSigned writes a one-day self-signed certificate and its key.
func writeSelfSigned(certFile, keyFile, name string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}
