package benchmarks_test

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prodready/prodready/secrets"
)

// BenchmarkSecretRead compares the ways a handler gets the current API
// token on every request: secrets.File.Value, reading the file each time
// (etcd's and prometheus/common's per-request read, which also survives
// rotation), and the hand-rolled cache under a sync.RWMutex (fast, but its
// reload loop is the part that breaks). All run in parallel, as handlers do.
func BenchmarkSecretRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "token")
	if err := os.WriteFile(path, []byte("s3cr3t-api-token"), 0o600); err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/orders", nil)
	req.Header.Set("Authorization", "s3cr3t-api-token")

	b.Run("impl=prodready", func(b *testing.B) {
		// A silent logger: a line on stdout would land inside go test's result
		// line and hide the figures from benchstat and the report.
		f, err := secrets.Watch(b.Context(), path, secrets.Logger(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = f.Close() }()
		authorised := func(r *http.Request) bool { return r.Header.Get("Authorization") == f.Value().Reveal() }
		runParallel(b, req, authorised)
	})
	b.Run("impl=os.ReadFile", func(b *testing.B) {
		authorised := func(r *http.Request) bool {
			tok, err := os.ReadFile(path) // #nosec G304 -- benchmark file
			return err == nil && r.Header.Get("Authorization") == string(tok)
		}
		runParallel(b, req, authorised)
	})
	b.Run("impl=RWMutex", func(b *testing.B) {
		var mu sync.RWMutex
		tok, err := os.ReadFile(path) // #nosec G304 -- benchmark file
		if err != nil {
			b.Fatal(err)
		}
		cached := string(tok)
		authorised := func(r *http.Request) bool {
			mu.RLock()
			defer mu.RUnlock()
			return r.Header.Get("Authorization") == cached
		}
		runParallel(b, req, authorised)
	})
}

func runParallel(b *testing.B, req *http.Request, authorised func(*http.Request) bool) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !authorised(req) {
				b.Error("token rejected")
				return
			}
		}
	})
}
