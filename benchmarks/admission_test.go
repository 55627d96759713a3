package benchmarks_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prodready/prodready/benchmarks/anchors"
	"github.com/prodready/prodready/server"
)

// BenchmarkAdmission is the per-request cost of admission at low load:
// one request at a time, admitted, to a handler that writes "ok", bare,
// behind server.Admission, and behind go-zero's adaptive shedder as its
// rest server applies it (anchors.GoZeroShedding), in the same run.
func BenchmarkAdmission(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	adm, err := server.NewAdmission(nil, server.AdmitLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		h    http.Handler
	}{
		{"baseline", h},
		{"prodready", adm.Middleware(h)},
		{"go-zero", anchors.GoZeroShedding(h)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w := metricsWriter{h: http.Header{}}
			r := httptest.NewRequest(http.MethodGet, "/work", nil)
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(w, r)
			}
		})
	}
}
