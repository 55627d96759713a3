package secrets

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Certificate keeps a TLS key pair current for servers
// (tls.Config.GetCertificate) and clients (GetClientCertificate): a rotated
// pair is served to new handshakes without a restart, and one that does not
// load keeps the old pair in service. Create one with NewCertificate; its
// methods are safe for concurrent use.
type Certificate struct {
	certFile, keyFile string
	cfg               config
	cur               atomic.Pointer[keyPair]
	w                 *watcher
}

type keyPair struct {
	cert *tls.Certificate
	sum  [32]byte
}

// NewCertificate loads the PEM certificate chain in certFile and the
// private key in keyFile and keeps them current, with the same machinery
// and options as Watch (the directory watches, debounce, polling, size
// limit, WaitForFile, Logger).
//
// The two files are read as one pair: in a Kubernetes Secret volume both
// are read through the same resolved ..data directory, so a swap between
// the two reads cannot mix generations. A pair that does not match, does
// not parse, has expired, or fails Validate (given the certificate PEM) is
// an error that keeps the old pair; a rotation that writes the two files
// one after the other converges once the second file lands. A pair that is
// not valid yet (NotBefore ahead of this host's clock, as when the issuer's
// clock runs a little ahead) is served all the same: it is the newest there
// is, and clients that check NotBefore accept it once the clocks agree.
func NewCertificate(ctx context.Context, certFile, keyFile string, opts ...Option) (*Certificate, error) {
	cf, err := filepath.Abs(certFile)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", certFile, err)
	}
	kf, err := filepath.Abs(keyFile)
	if err != nil {
		return nil, fmt.Errorf("certificate key %s: %w", keyFile, err)
	}
	c := &Certificate{certFile: cf, keyFile: kf, cfg: newConfig(opts)}
	// A key pair is never a line of text: its newline is not trimmed.
	c.cfg.trim = false
	name := cf + " + " + kf
	c.w, err = startWatcher(ctx, c.cfg, name, hooks{
		dirs: func() []string { return watchDirs(cf, kf) },
		load: c.load,
	})
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", name, err)
	}
	return c, nil
}

// GetCertificate returns the current pair, for tls.Config.GetCertificate.
// Before the first pair has loaded (WaitForFile) it returns ErrNotLoaded,
// which fails that handshake.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current()
}

// GetClientCertificate returns the current pair, for
// tls.Config.GetClientCertificate (mutual TLS from the client side).
func (c *Certificate) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return c.current()
}

func (c *Certificate) current() (*tls.Certificate, error) {
	kp := c.cur.Load()
	if kp == nil {
		return nil, ErrNotLoaded
	}
	return kp.cert, nil
}

// NotAfter returns when the current certificate expires (the zero time
// before one has loaded), to alert on a rotation that never came.
func (c *Certificate) NotAfter() time.Time {
	kp := c.cur.Load()
	if kp == nil {
		return time.Time{}
	}
	return kp.cert.Leaf.NotAfter
}

// Check reports whether the latest reload failed, with the reason; the
// server keeps using the previous pair meanwhile. ctx is not used.
func (c *Certificate) Check(context.Context) error { return c.w.check() }

// Stats returns the counts of reads, changes and errors so far.
func (c *Certificate) Stats() Stats { return c.w.stats() }

// Close stops watching and releases the directory watches. It always
// returns nil; the last pair stays available to GetCertificate.
func (c *Certificate) Close() error {
	c.w.close()
	return nil
}

func (c *Certificate) load() (bool, error) {
	certPath, keyPath := resolvePair(c.certFile, c.keyFile)
	certPEM, err := readStable(certPath, &c.cfg)
	if err != nil {
		return false, err
	}
	keyPEM, err := readStable(keyPath, &c.cfg)
	if err != nil {
		return false, err
	}
	h := sha256.New()
	_ = binary.Write(h, binary.BigEndian, uint64(len(certPEM)))
	h.Write(certPEM)
	h.Write(keyPEM)
	var sum [32]byte
	h.Sum(sum[:0])
	defer clear(keyPEM)
	if cur := c.cur.Load(); cur != nil && cur.sum == sum {
		return false, nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, err
	}
	if pair.Leaf == nil { // X509KeyPair fills it in since Go 1.23 unless x509keypairleaf=0
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return false, err
		}
	}
	if now := time.Now(); now.After(pair.Leaf.NotAfter) {
		return false, fmt.Errorf("%w: not after %s", ErrExpired, pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := validate(c.cfg.validate, certPEM); err != nil {
		return false, err
	}
	c.cur.Store(&keyPair{cert: &pair, sum: sum})
	return true, nil
}

// resolvePair reads both files of a Kubernetes Secret volume through one
// resolution of ..data: there tls.crt links to ..data/tls.crt and ..data to
// a timestamped directory that the kubelet swaps in one rename. Resolving
// ..data once means the cert and the key come from the same write.
// Anything else is read as given.
func resolvePair(certFile, keyFile string) (string, string) {
	dir := filepath.Dir(certFile)
	if filepath.Dir(keyFile) != dir || !linksIntoData(certFile) || !linksIntoData(keyFile) {
		return certFile, keyFile
	}
	target, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil || filepath.IsAbs(target) || strings.ContainsRune(target, filepath.Separator) {
		return certFile, keyFile
	}
	gen := filepath.Join(dir, target)
	return filepath.Join(gen, filepath.Base(certFile)), filepath.Join(gen, filepath.Base(keyFile))
}

// linksIntoData reports whether path is a symlink to ..data/<its name>.
func linksIntoData(path string) bool {
	target, err := os.Readlink(path)
	return err == nil && filepath.Clean(target) == filepath.Join("..data", filepath.Base(path))
}
