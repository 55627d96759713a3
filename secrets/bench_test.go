package secrets

import (
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

func benchFile(b *testing.B) *File {
	b.Helper()
	path := filepath.Join(b.TempDir(), "secret")
	writeFile(b, path, "s3cr3t-password")
	f, err := Watch(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	return f
}

var sink string

func BenchmarkValue(b *testing.B) {
	f := benchFile(b)
	b.ReportAllocs()
	for b.Loop() {
		sink = f.Value().Reveal()
	}
}

func BenchmarkValueParallel(b *testing.B) {
	f := benchFile(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var s string
		for pb.Next() {
			s = f.Value().Reveal()
		}
		_ = s
	})
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

// BenchmarkRotationLatency measures, with the default debounce, the time
// from a rename over the file completing to the new value being published
// (taken in a subscriber, which runs just after Value returns it).
// Run it for 200 rotations:
//
//	go test -run '^$' -bench RotationLatency -benchtime 200x ./secrets
func BenchmarkRotationLatency(b *testing.B) {
	r := newRotator(b)
	var lat []time.Duration
	for b.Loop() {
		lat = append(lat, r.rotate())
	}
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
}

// TestRotationLatency is the short form run with the suite: a handful of
// rotations, each must land within a second.
func TestRotationLatency(t *testing.T) {
	t.Parallel()
	r := newRotator(t)
	var lat []time.Duration
	for range 5 {
		lat = append(lat, r.rotate())
	}
	t.Logf("rename → new value: p50 %v, max %v over %d rotations", percentile(lat, 50), percentile(lat, 100), len(lat))
}

// rotator renames new values over a watched file and times their arrival.
type rotator struct {
	tb        testing.TB
	path      string
	n         int
	published chan time.Time
}

func newRotator(tb testing.TB) *rotator {
	r := &rotator{tb: tb, path: filepath.Join(tb.TempDir(), "secret"), published: make(chan time.Time, 1)}
	writeFile(tb, r.path, "v0")
	f, err := Watch(tb.Context(), r.path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = f.Close() })
	f.Subscribe(func(Secret) { r.published <- time.Now() })
	return r
}

// rotate fails if the value takes more than a second: far above the
// 100ms debounce, so only a lost event or a stuck loop gets there.
func (r *rotator) rotate() time.Duration {
	r.n++
	writeFile(r.tb, r.path, "v"+strconv.Itoa(r.n)) // returns when the rename is done
	renamed := time.Now()
	select {
	case at := <-r.published:
		return at.Sub(renamed)
	case <-time.After(time.Second):
		r.tb.Fatalf("rotation %d not published within 1s", r.n)
		return 0
	}
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(min(i, len(s))-1, 0)]
}
