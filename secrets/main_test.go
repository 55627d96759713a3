package secrets

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// childEnv makes the test binary, re-executed as another user, run one
// scenario instead of the suite.
const childEnv = "SECRETS_TEST_CHILD"

func TestMain(m *testing.M) {
	// asNobody re-executes this binary as another user to run one
	// scenario; that child must not run the leak check's whole suite logic.
	if os.Getenv(childEnv) != "" {
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

// fakeSource stands in for the shared fsnotify hub, so the debounce and
// poll logic runs inside a synctest bubble (fsnotify's reader goroutine
// blocks in a system call, which a bubble cannot wait for). The test says
// when an event happened.
type fakeSource struct {
	mu       sync.Mutex
	hints    []func()
	ensured  int
	released int
}

func (s *fakeSource) source(hint func()) notifier {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hints = append(s.hints, hint)
	return fakeNotifier{s}
}

// event delivers a hint to every watch, as a directory event would.
func (s *fakeSource) event() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hints {
		h()
	}
}

type fakeNotifier struct{ s *fakeSource }

func (n fakeNotifier) ensure([]string) error {
	n.s.mu.Lock()
	n.s.ensured++
	n.s.mu.Unlock()
	return nil
}

func (n fakeNotifier) release() {
	n.s.mu.Lock()
	n.s.released++
	n.s.mu.Unlock()
}

func withSource(src notifySource) Option {
	return optionFunc(func(c *config) { c.source = src })
}

// writeFile replaces path's content in one rename, as Vault Agent does.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// The tests on the real file system use the shared fsnotify watcher, with
// polling off unless the case is about polling, so they prove the events
// alone keep the value current. They wait for a condition with a deadline;
// the deadline is never what is asserted.

// fastEvents: a short debounce keeps the suite quick; polling off.
var fastEvents = []Option{Debounce(10 * time.Millisecond), PollInterval(0)}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitValue(t *testing.T, f *File, want string) {
	t.Helper()
	waitFor(t, "value "+strconv.Quote(want), func() bool { return f.Value().Reveal() == want })
}

// recorder collects the values a subscriber sees.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func record(f *File) *recorder {
	r := &recorder{}
	f.Subscribe(func(s Secret) {
		r.mu.Lock()
		r.seen = append(r.seen, s.Reveal())
		r.mu.Unlock()
	})
	return r
}

func (r *recorder) values() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

func mustWatch(t *testing.T, path string, opts ...Option) *File {
	t.Helper()
	f, err := Watch(t.Context(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// watchFake starts a Watch on a fresh file fed by a fakeSource.
func watchFake(t *testing.T, content string, opts ...Option) (*File, *fakeSource, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if content != "" {
		writeFile(t, path, content)
	}
	src := &fakeSource{}
	f, err := Watch(t.Context(), path, append([]Option{withSource(src.source)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f, src, path
}

// kubeWriter replays, step by step, how the kubelet's atomic writer
// (kubernetes pkg/volume/util/atomic_writer.go) updates a Secret volume:
//
//  1. write every key into a new timestamped directory ..<ts>;
//  2. symlink ..data_tmp → ..<ts>;
//  3. rename ..data_tmp over ..data (the one atomic step);
//  4. link each new key: <key> → ..data/<key>;
//  5. remove the links of keys that are gone;
//  6. remove the old timestamped directory.
//
// linkFirst moves step 4 before step 3, the order of older kubelets and of
// the Secrets Store CSI driver: a new key's link dangles until the swap.
type kubeWriter struct {
	t         testing.TB
	dir       string
	linkFirst bool
	gen       int
	links     map[string]bool
}

func newKubeWriter(t testing.TB, linkFirst bool) *kubeWriter {
	return &kubeWriter{t: t, dir: t.TempDir(), linkFirst: linkFirst, links: map[string]bool{}}
}

func (k *kubeWriter) path(key string) string { return filepath.Join(k.dir, key) }

func (k *kubeWriter) write(files map[string]string) {
	t := k.t
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	k.gen++
	ts := fmt.Sprintf("..2025_06_01_12_00_%02d.%09d", k.gen%60, k.gen)
	must(os.Mkdir(filepath.Join(k.dir, ts), 0o755))
	for key, content := range files {
		must(os.WriteFile(filepath.Join(k.dir, ts, key), []byte(content), 0o644)) // #nosec G306 -- the kubelet's default mode
	}
	old, _ := os.Readlink(filepath.Join(k.dir, "..data"))
	if k.linkFirst {
		k.link(files)
	}
	must(os.Symlink(ts, filepath.Join(k.dir, "..data_tmp")))
	must(os.Rename(filepath.Join(k.dir, "..data_tmp"), filepath.Join(k.dir, "..data")))
	if !k.linkFirst {
		k.link(files)
	}
	for key := range k.links {
		if _, ok := files[key]; !ok {
			must(os.Remove(k.path(key)))
			delete(k.links, key)
		}
	}
	if old != "" {
		must(os.RemoveAll(filepath.Join(k.dir, old)))
	}
}

func (k *kubeWriter) link(files map[string]string) {
	for key := range files {
		if !k.links[key] {
			if err := os.Symlink(filepath.Join("..data", key), k.path(key)); err != nil {
				k.t.Fatal(err)
			}
			k.links[key] = true
		}
	}
}

type testCert struct {
	certPEM, keyPEM []byte
	leaf            *x509.Certificate
}

// newTestCert makes a self-signed certificate for localhost, its serial
// telling generations apart, expiring after life (negative: expired).
func newTestCert(t testing.TB, serial int64, life time.Duration) testCert {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	return newTestCertValid(t, serial, now.Add(-2*time.Hour), now.Add(life))
}

// newTestCertValid is newTestCert with the validity period given.
func newTestCertValid(t testing.TB, serial int64, notBefore, notAfter time.Time) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		leaf:    leaf,
	}
}

func (c testCert) files() map[string]string {
	return map[string]string{"tls.crt": string(c.certPEM), "tls.key": string(c.keyPEM)}
}
