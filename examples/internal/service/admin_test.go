package service

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/prodready/prodready/health"
)

func TestAdminGuard(t *testing.T) {
	const token = "admin-token-1"
	newMux := func(cfg Config) http.Handler {
		var last details
		checks := health.New(health.Logger(nil), health.Observer(last.observe))
		checks.AddReadiness("db", func(context.Context) error { return errors.New("dial 10.0.0.7:5432: refused") })
		level := zap.NewAtomicLevel()
		metricsHandler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("up 1\n")) })
		// One probe, so /debug/health has a run to show.
		checks.Handler(health.Readiness).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return adminMux(cfg, checks, &last, metricsHandler, level)
	}
	open := newMux(Config{})
	guarded := newMux(Config{AdminToken: token})
	withPprof := newMux(Config{AdminToken: token, Pprof: true})
	pprofNoToken := newMux(Config{Pprof: true})

	tests := []struct {
		name         string
		mux          http.Handler
		method, path string
		auth         string // Authorization header
		body         string
		wantStatus   int
		wantBody     string // a substring the body must hold
		withholds    string // a substring the body must not hold
	}{
		{"readyz open, reason withheld", open, http.MethodGet, "/readyz", "", "", http.StatusServiceUnavailable, `"fail"`, "10.0.0.7"},
		{"livez open", open, http.MethodGet, "/livez", "", "", http.StatusOK, `"pass"`, ""},
		{"metrics open", open, http.MethodGet, "/metrics", "", "", http.StatusOK, "up 1", ""},
		{"reading the level open", open, http.MethodGet, "/loglevel", "", "", http.StatusOK, `"level":"info"`, ""},
		{"changing the level closed without a token", open, http.MethodPut, "/loglevel", "", `{"level":"debug"}`, http.StatusForbidden, "ADMIN_TOKEN", ""},
		{"details closed without a token", open, http.MethodGet, "/debug/health", "", "", http.StatusForbidden, "", "10.0.0.7"},
		{"pprof off by default", guarded, http.MethodGet, "/debug/pprof/", "Bearer " + token, "", http.StatusNotFound, "", ""},
		{"change without the token", guarded, http.MethodPut, "/loglevel", "", `{"level":"debug"}`, http.StatusUnauthorized, "", ""},
		{"change with a wrong token", guarded, http.MethodPut, "/loglevel", "Bearer admin-token-2", `{"level":"debug"}`, http.StatusUnauthorized, "", ""},
		{"change with a prefix of the token", guarded, http.MethodPut, "/loglevel", "Bearer admin-token", `{"level":"debug"}`, http.StatusUnauthorized, "", ""},
		{"change with the token as Basic", guarded, http.MethodPut, "/loglevel", "Basic " + token, `{"level":"debug"}`, http.StatusUnauthorized, "", ""},
		{"change with the token", guarded, http.MethodPut, "/loglevel", "Bearer " + token, `{"level":"debug"}`, http.StatusOK, `"level":"debug"`, ""},
		{"change with an oversize body", guarded, http.MethodPut, "/loglevel", "Bearer " + token, `{"level":"` + strings.Repeat("d", 8<<10) + `"}`, http.StatusBadRequest, "", ""},
		{"details with the token", guarded, http.MethodGet, "/debug/health", "Bearer " + token, "", http.StatusOK, "10.0.0.7", ""},
		{"pprof with the token", withPprof, http.MethodGet, "/debug/pprof/cmdline", "Bearer " + token, "", http.StatusOK, "", ""},
		{"pprof without the token", withPprof, http.MethodGet, "/debug/pprof/goroutine?debug=1", "", "", http.StatusUnauthorized, "", "goroutine"},
		{"pprof on but no token set", pprofNoToken, http.MethodGet, "/debug/pprof/goroutine?debug=1", "Bearer ", "", http.StatusForbidden, "", "goroutine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			tt.mux.ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("body %q lacks %q", w.Body, tt.wantBody)
			}
			if tt.withholds != "" && strings.Contains(w.Body.String(), tt.withholds) {
				t.Errorf("body %q shows %q", w.Body, tt.withholds)
			}
			if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}
