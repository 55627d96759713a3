package service

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/secrets"
	"github.com/prodready/prodready/server"
)

// Tokens of the tests: valid ones are 16 bytes or more.
const (
	tokenA = "admin-token-0001-6f2c9e"
	tokenB = "admin-token-0002-41d7aa"
	tokenC = "admin-token-0003-b85e10"
)

// messages is a slog.Handler that hands the secrets package's log
// messages on, so a test waits for a reload instead of guessing its time.
type messages chan string

func (m messages) Enabled(context.Context, slog.Level) bool { return true }
func (m messages) WithAttrs([]slog.Attr) slog.Handler       { return m }
func (m messages) WithGroup(string) slog.Handler            { return m }
func (m messages) Handle(_ context.Context, r slog.Record) error {
	select {
	case m <- r.Message:
	default: // a test that stopped listening must not block the watcher
	}
	return nil
}

// waitFor reads messages until want arrives.
func (m messages) waitFor(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-m:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("no %q logged within 10s", want)
		}
	}
}

// writeToken replaces the file at path the way a rotation does: a new
// file renamed over the old one.
func writeToken(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// watchToken watches path as Run does, until the test ends.
func watchToken(t *testing.T, path string, log messages) *secrets.File {
	t.Helper()
	f, err := watchAdminToken(t.Context(), path, slog.New(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// newAdminMux is the admin port of a service with one failing readiness
// check, probed once so that /debug/health has a run to show.
func newAdminMux(cfg Config, token *secrets.File) http.Handler {
	var last details
	checks := health.New(health.Logger(slog.New(slog.DiscardHandler)), health.OnEvent(last.observe))
	checks.AddReadiness("db", func(context.Context) error { return errors.New("dial 10.0.0.7:5432: refused") })
	level := zap.NewAtomicLevel()
	metricsHandler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("up 1\n")) })
	checks.Handler(health.Readiness).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/readyz", nil))
	return adminMux(context.Background(), cfg, token, checks, &last, metricsHandler, logging.LevelHandler(zap.NewNop(), level))
}

// call sends one request to mux.
func call(mux http.Handler, method, path, auth, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	return w
}

func TestAdminGuard(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	writeToken(t, file, tokenA+"\n")
	token := watchToken(t, file, make(messages, 16))
	notLoaded := watchToken(t, filepath.Join(dir, "missing"), make(messages, 16))

	open := newAdminMux(Config{}, nil)
	guarded := newAdminMux(Config{}, token)
	withPprof := newAdminMux(Config{Pprof: true}, token)
	pprofNoToken := newAdminMux(Config{Pprof: true}, nil)
	noTokenYet := newAdminMux(Config{}, notLoaded)

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
		{"changing the level closed without a token file", open, http.MethodPut, "/loglevel", "", `{"level":"debug"}`, http.StatusForbidden, "no admin token", ""},
		{"details closed without a token file", open, http.MethodGet, "/debug/health", "", "", http.StatusForbidden, "", "10.0.0.7"},
		{"closed while the token file holds no token", noTokenYet, http.MethodGet, "/debug/health", "Bearer ", "", http.StatusForbidden, "no admin token", "10.0.0.7"},
		{"pprof off by default", guarded, http.MethodGet, "/debug/pprof/", "Bearer " + tokenA, "", http.StatusNotFound, "", ""},
		{"change without the token", guarded, http.MethodPut, "/loglevel", "", `{"level":"debug"}`, http.StatusUnauthorized, "", ""},
		{"change with a wrong token", guarded, http.MethodPut, "/loglevel", "Bearer " + tokenB, `{"level":"debug"}`, http.StatusUnauthorized, "", ""},
		{"change with a prefix of the token", guarded, http.MethodPut, "/loglevel", "Bearer " + tokenA[:len(tokenA)-1], `{"level":"debug"}`, http.StatusUnauthorized, "", ""},
		{"change with the token and its newline", guarded, http.MethodPut, "/loglevel", "Bearer " + tokenA + "\n", `{"level":"debug"}`, http.StatusUnauthorized, "", ""},
		{"change with the token as Basic", guarded, http.MethodPut, "/loglevel", "Basic " + tokenA, `{"level":"debug"}`, http.StatusUnauthorized, "", ""},
		{"change with the token", guarded, http.MethodPut, "/loglevel", "Bearer " + tokenA, `{"level":"debug"}`, http.StatusOK, `"level":"debug"`, ""},
		{"change with an oversize body", guarded, http.MethodPut, "/loglevel", "Bearer " + tokenA, `{"level":"` + strings.Repeat("d", 8<<10) + `"}`, http.StatusBadRequest, "", ""},
		{"details with the token", guarded, http.MethodGet, "/debug/health", "Bearer " + tokenA, "", http.StatusOK, "10.0.0.7", ""},
		{"pprof with the token", withPprof, http.MethodGet, "/debug/pprof/goroutine?debug=1", "Bearer " + tokenA, "", http.StatusOK, "goroutine profile", ""},
		{"pprof without the token", withPprof, http.MethodGet, "/debug/pprof/goroutine?debug=1", "", "", http.StatusUnauthorized, "", "goroutine"},
		{"pprof on but no token file", pprofNoToken, http.MethodGet, "/debug/pprof/goroutine?debug=1", "Bearer ", "", http.StatusForbidden, "", "goroutine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := call(tt.mux, tt.method, tt.path, tt.auth, tt.body)
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
			if strings.Contains(w.Body.String(), tokenA) {
				t.Errorf("body shows the token: %s", w.Body)
			}
		})
	}
}

// TestAdminTokenRotation: the guard accepts whichever token the file
// holds now, without a restart; a file that turns bad keeps the last good
// token and says why through its check; a token file created after the
// start opens the endpoints.
func TestAdminTokenRotation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	log := make(messages, 64)
	token := watchToken(t, file, log) // no file yet
	mux := newAdminMux(Config{}, token)

	steps := []struct {
		name     string
		content  string // written to the file
		logged   string // what the secrets package says once it has read it
		accepted string // the token that opens /debug/health
		refused  []string
		checkErr error // what the file's check reports; nil: healthy
	}{
		{"created after the start", tokenA + "\n", "secret loaded", tokenA, []string{tokenB}, nil},
		{"rotated", tokenB + "\n", "secret reloaded", tokenB, []string{tokenA}, nil},
		{"too short: the last good token stays", "tiny-tok\n", "secret reload failed; keeping the last good value", tokenB, []string{tokenA, "tiny-tok"}, server.ErrInvalidToken},
		{"a space in it: the last good token stays", "admin token 0004 with spaces", "secret reload failed; keeping the last good value", tokenB, []string{tokenA, "admin token 0004 with spaces"}, server.ErrInvalidToken},
		{"rotated after the failure", tokenC, "secret reloaded", tokenC, []string{tokenA, tokenB}, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			writeToken(t, file, st.content)
			log.waitFor(t, st.logged)
			if w := call(mux, http.MethodGet, "/debug/health", "Bearer "+st.accepted, ""); w.Code != http.StatusOK {
				t.Errorf("the current token: %d, want 200: %s", w.Code, w.Body)
			}
			for _, old := range st.refused {
				if w := call(mux, http.MethodGet, "/debug/health", "Bearer "+old, ""); w.Code != http.StatusUnauthorized {
					t.Errorf("token %q: %d, want 401", old, w.Code)
				}
			}
			err := token.Check(t.Context())
			if (st.checkErr == nil) != (err == nil) || (st.checkErr != nil && !errors.Is(err, st.checkErr)) {
				t.Errorf("Check = %v, want %v", err, st.checkErr)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimSpace(st.content)) {
				t.Errorf("Check quotes the file: %v", err)
			}
		})
	}
}
