package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/server"
	"github.com/prodready/prodready/shutdown"
)

func TestRoutes(t *testing.T) {
	h := newCatalog(products).routes()
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantBody   string // a JSON field that must be in the body
	}{
		{"list", http.MethodGet, "/products", http.StatusOK, `"id":"p1"`},
		{"one", http.MethodGet, "/products/p3", http.StatusOK, `"name":"Burr grinder"`},
		{"unknown id", http.MethodGet, "/products/nope", http.StatusNotFound, `"error":"product not found"`},
		{"wrong method", http.MethodPost, "/products", http.StatusMethodNotAllowed, ""},
		{"work without duration", http.MethodGet, "/work", http.StatusBadRequest, `"error"`},
		{"work too long", http.MethodGet, "/work?duration=1h", http.StatusBadRequest, `"error"`},
		{"work negative", http.MethodGet, "/work?duration=-1s", http.StatusBadRequest, `"error"`},
		{"work zero", http.MethodGet, "/work?duration=0s", http.StatusOK, `"worked":"0s"`},
		{"cpu", http.MethodGet, "/work?cpu=2ms", http.StatusOK, `"burnt":"2ms"`},
		{"cpu at most", http.MethodGet, "/work?cpu=100ms", http.StatusOK, `"burnt":"100ms"`},
		{"cpu too long", http.MethodGet, "/work?cpu=101ms", http.StatusBadRequest, `"error"`},
		{"cpu negative", http.MethodGet, "/work?cpu=-1ms", http.StatusBadRequest, `"error"`},
		{"cpu not a duration", http.MethodGet, "/work?cpu=lots", http.StatusBadRequest, `"error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantBody != "" && !json.Valid(w.Body.Bytes()) {
				t.Fatalf("body is not JSON: %s", w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("body %s lacks %s", w.Body, tt.wantBody)
			}
		})
	}
}

func TestWorkHoldsForTheDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := httptest.NewRecorder()
		start := time.Now()
		work(w, httptest.NewRequest(http.MethodGet, "/work?duration=2s", nil))
		if got := time.Since(start); got != 2*time.Second {
			t.Errorf("held %v, want 2s", got)
		}
		if w.Code != http.StatusOK {
			t.Errorf("status %d", w.Code)
		}
	})
}

func TestWorkEndsWhenTheClientGoes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(500*time.Millisecond, cancel)
		start := time.Now()
		w := httptest.NewRecorder()
		work(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "/work?duration=10s", nil))
		if got := time.Since(start); got != 500*time.Millisecond {
			t.Errorf("held %v after the client left at 500ms", got)
		}
		if w.Body.Len() != 0 {
			t.Errorf("answered a client that is gone: %s", w.Body)
		}
	})
}

// TestSpinEndsWhenTheClientGoes: a client gone ends the burn at the next
// look at the context, and nothing is answered.
func TestSpinEndsWhenTheClientGoes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	work(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "/work?cpu=100ms", nil))
	if w.Body.Len() != 0 {
		t.Errorf("answered a client that is gone: %s", w.Body)
	}
}

// TestWorkAnswersWhenEnded: the request deadline and a shutdown that
// cannot wait end /work with a JSON error naming the correlation ID, like
// every other error of the service (the deadline's 504 was server.Deadline's
// text/plain one).
func TestWorkAnswersWhenEnded(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cause error
		code  int
	}{
		{"request deadline", server.ErrDeadline, http.StatusGatewayTimeout},
		{"shutdown budget", shutdown.ErrBudget, http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancelCause(context.Background())
				time.AfterFunc(500*time.Millisecond, func() { cancel(tt.cause) })
				w := httptest.NewRecorder()
				r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/work?duration=10s", nil)
				r.Header.Set("X-Correlation-ID", "cid-work-1")
				logging.Middleware(zap.NewNop())(http.HandlerFunc(work)).ServeHTTP(w, r)
				var body errorBody
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != tt.code || body.CorrelationID != "cid-work-1" ||
					w.Header().Get("Content-Type") != "application/json" {
					t.Errorf("%d %q %s, want %d JSON with the correlation ID", w.Code, w.Header().Get("Content-Type"), w.Body, tt.code)
				}
			})
		})
	}
}

// TestBudgetProblem: the defaults agree; settings that cannot name the
// one to change, in one line.
func TestBudgetProblem(t *testing.T) {
	defaults := server.Config{ShutdownTimeout: 25 * time.Second, DrainDelay: 5 * time.Second, RequestTimeout: 40 * time.Second}
	for _, tt := range []struct {
		name string
		cfg  func(c *server.Config)
		want string
	}{
		{"defaults", func(*server.Config) {}, ""},
		{"no request deadline", func(c *server.Config) { c.RequestTimeout = 0 }, ""},
		{"drain takes the budget", func(c *server.Config) { c.DrainDelay = 25 * time.Second }, "raise SHUTDOWN_TIMEOUT"},
		{"deadline under /work's limit", func(c *server.Config) { c.RequestTimeout = 10 * time.Second }, "raise HTTP_REQUEST_TIMEOUT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := defaults
			tt.cfg(&c)
			got := c.BudgetProblem() + workProblem(c.RequestTimeout) // what catalog warns about
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) || strings.Contains(got, "\n") {
				t.Errorf("problems = %q, want one line with %q", got, tt.want)
			}
		})
	}
}
