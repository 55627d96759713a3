package secrets

import (
	"path/filepath"
	"testing"
	"time"
)

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
