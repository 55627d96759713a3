package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// Tokens of the tests: valid ones are 16 bytes or more.
const (
	tokenA = "admin-token-0001-6f2c9e"
	tokenB = "admin-token-0002-41d7aa"
)

func TestGuard(t *testing.T) {
	var current atomic.Value // the token the guard reads now
	current.Store(tokenA)
	rotating := func() string { return current.Load().(string) }
	constant := func(s string) func() string { return func() string { return s } }
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret stuff")) })

	tests := []struct {
		name       string
		token      func() string
		auth       string // the request's Authorization header
		rotateTo   string // the token, changed before the request; "" keeps it
		wantStatus int
		wantBody   string
	}{
		{"the token", rotating, "Bearer " + tokenA, "", http.StatusOK, "secret stuff"},
		{"no Authorization", rotating, "", "", http.StatusUnauthorized, "unauthorized"},
		{"a wrong token", rotating, "Bearer " + tokenB, "", http.StatusUnauthorized, "unauthorized"},
		{"a prefix of the token", rotating, "Bearer " + tokenA[:len(tokenA)-1], "", http.StatusUnauthorized, "unauthorized"},
		{"the token and a newline", rotating, "Bearer " + tokenA + "\n", "", http.StatusUnauthorized, "unauthorized"},
		{"the token as Basic", rotating, "Basic " + tokenA, "", http.StatusUnauthorized, "unauthorized"},
		{"lower-case bearer", rotating, "bearer " + tokenA, "", http.StatusUnauthorized, "unauthorized"},
		{"rotated: the new token opens", rotating, "Bearer " + tokenB, tokenB, http.StatusOK, "secret stuff"},
		{"rotated: the old token is refused", rotating, "Bearer " + tokenA, tokenB, http.StatusUnauthorized, "unauthorized"},
		{"no token func: closed", nil, "Bearer " + tokenA, "", http.StatusForbidden, "no admin token"},
		{"no token yet: closed, even to an empty bearer", constant(""), "Bearer ", "", http.StatusForbidden, "no admin token"},
		{"a token too short to be one: closed", constant("short"), "Bearer short", "", http.StatusForbidden, "no admin token"},
		{"a token with a space: closed", constant("admin token 0001 x"), "Bearer admin token 0001 x", "", http.StatusForbidden, "no admin token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			current.Store(tokenA)
			if tt.rotateTo != "" {
				current.Store(tt.rotateTo)
			}
			req := httptest.NewRequest(http.MethodGet, "/debug/health", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			Guard(tt.token)(ok).ServeHTTP(w, req)
			if w.Code != tt.wantStatus || !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("got %d %q, want %d with %q", w.Code, w.Body, tt.wantStatus, tt.wantBody)
			}
			if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			for _, tok := range []string{tokenA, tokenB} {
				if strings.Contains(w.Body.String(), tok) || strings.Contains(w.Header().Get("WWW-Authenticate"), tok) {
					t.Errorf("the answer shows a token: %v %q", w.Header(), w.Body)
				}
			}
		})
	}
}

func TestValidToken(t *testing.T) {
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"hex, 32 bytes", "9f86d081884c7d659a2feaa0c55ad015", true},
		{"base64 with padding", "n4bQgYhMfWWaL+qgxVrQFQ==", true},
		{"16 bytes", strings.Repeat("x", 16), true},
		{"15 bytes", strings.Repeat("x", 15), false},
		{"1024 bytes", strings.Repeat("x", 1024), true},
		{"1025 bytes", strings.Repeat("x", 1025), false},
		{"empty", "", false},
		{"a space", "admin token 0001 x", false},
		{"a tab", "admin-token-0001\tx", false},
		{"a NUL", "admin-token-0001\x00x", false},
		{"DEL", "admin-token-0001\x7fx", false},
		{"UTF-8", "admin-token-0001-é", false},
		{"a newline inside", "admin-token\n0001-x", false},
		{"a final newline", "admin-token-0001-x\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidToken([]byte(tt.token))
			if (err == nil) != tt.ok {
				t.Errorf("ValidToken = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v is not ErrInvalidToken", err)
			}
		})
	}
}
