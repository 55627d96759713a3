package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

// edgeVars are the variables FromEnv reads.
var edgeVars = []string{"HTTP_ADDR", "ADMIN_ADDR", "HTTP_READ_HEADER_TIMEOUT", "HTTP_REQUEST_TIMEOUT",
	"SHUTDOWN_TIMEOUT", "SHUTDOWN_DRAIN_DELAY", "ADMIN_TOKEN_FILE", "PPROF"}

func clearEdgeVars(t *testing.T) {
	for _, k := range edgeVars {
		t.Setenv(k, "")
	}
}

// TestFromEnvDefaults: unset, every field has its default, and they are
// the ones a Config written in code gets for its zero fields.
func TestFromEnvDefaults(t *testing.T) {
	clearEdgeVars(t)
	got, err := FromEnv(":8081")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Addr: ":8081", AdminAddr: ":9090", ReadHeaderTimeout: 5 * time.Second, RequestTimeout: 40 * time.Second,
		ShutdownTimeout: 25 * time.Second, DrainDelay: 5 * time.Second}
	if got != want {
		t.Errorf("FromEnv = %+v, want %+v", got, want)
	}
	if zero := (Config{Addr: ":8081", ShutdownTimeout: 25 * time.Second, DrainDelay: 5 * time.Second}).withDefaults(); zero != want {
		t.Errorf("the zero Config's defaults %+v differ from FromEnv's %+v", zero, want)
	}
}

func TestFromEnv(t *testing.T) {
	clearEdgeVars(t)
	t.Setenv("HTTP_ADDR", ":7000")
	t.Setenv("HTTP_REQUEST_TIMEOUT", "2s")
	t.Setenv("ADMIN_TOKEN_FILE", "/run/secrets/token")
	t.Setenv("PPROF", "1")
	got, err := FromEnv(":8080")
	if err != nil {
		t.Fatal(err)
	}
	if got.Addr != ":7000" || got.RequestTimeout != 2*time.Second || got.AdminTokenFile != "/run/secrets/token" || !got.Pprof {
		t.Errorf("FromEnv = %+v", got)
	}
}

// TestFromEnvNamesEveryBadVariable: one error names them all.
func TestFromEnvNamesEveryBadVariable(t *testing.T) {
	clearEdgeVars(t)
	t.Setenv("HTTP_REQUEST_TIMEOUT", "soon")
	t.Setenv("SHUTDOWN_DRAIN_DELAY", "-1s")
	t.Setenv("PPROF", "ture")
	t.Setenv("ADMIN_ADDR", "9090")
	_, err := FromEnv(":8080")
	if err == nil {
		t.Fatal("no error")
	}
	for _, k := range []string{"HTTP_REQUEST_TIMEOUT", "SHUTDOWN_DRAIN_DELAY", "PPROF", "ADMIN_ADDR"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not name %s", err, k)
		}
	}
}

// TestTraffic: the budgets agree, and the layers run in the documented
// order: body limit, the middlewares as given, the deadline, the routes.
func TestTraffic(t *testing.T) {
	cfg := Config{Addr: ":0", ReadHeaderTimeout: 20 * time.Second, RequestTimeout: 90 * time.Second}
	var order []string
	layer := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	var deadline time.Time
	routes := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		order = append(order, "routes")
		deadline, _ = r.Context().Deadline()
		if _, err := r.Body.Read(make([]byte, 2<<20)); err == nil || !strings.Contains(err.Error(), "too large") {
			t.Errorf("a 2 MiB body read: %v, want the 1 MiB limit", err)
		}
	})
	srv := cfg.Traffic(routes, layer("outer"), layer("inner"))
	if srv.ReadHeaderTimeout != 20*time.Second || srv.ReadTimeout < 20*time.Second || srv.WriteTimeout != 95*time.Second {
		t.Errorf("timeouts: header %v, read %v, write %v; want 20s, ≥20s, 95s", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout)
	}
	r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/", strings.NewReader(strings.Repeat("x", 2<<20)))
	start := time.Now()
	srv.Handler.ServeHTTP(httptest.NewRecorder(), r)
	if strings.Join(order, ",") != "outer,inner,routes" {
		t.Errorf("layers ran %v", order)
	}
	if d := deadline.Sub(start); d < 89*time.Second || d > 91*time.Second {
		t.Errorf("the request's deadline is %v away, want 90s", d)
	}
}

// TestTrafficBodiless: a request without a body (http.NoBody, what
// net/http gives a GET) reaches the routes as it came, with no request
// copy and no body reader, while a request with a body still meets the
// limit (TestTraffic).
func TestTrafficBodiless(t *testing.T) {
	var got *http.Request
	routes := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r })
	h := Config{Addr: ":0", RequestTimeout: -1}.Traffic(routes).Handler
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if r.Body != http.NoBody {
		t.Fatalf("httptest gave the GET %T, not http.NoBody", r.Body)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if got != r {
		t.Error("the bodiless request was copied on its way to the routes")
	}
	if testenv.Race {
		return // the race detector allocates
	}
	if n := testenv.ExtraAllocs(100, func() { h.ServeHTTP(w, r) }, func() { routes.ServeHTTP(w, r) }); n != 0 {
		t.Errorf("the traffic port's own layers allocate %v times for a GET, want 0", n)
	}
}

func TestAdminServer(t *testing.T) {
	srv := Config{AdminAddr: ":0"}.AdminServer(http.NotFoundHandler())
	if srv.Addr != ":0" || srv.ReadHeaderTimeout != 5*time.Second {
		t.Errorf("admin server: addr %q, header timeout %v", srv.Addr, srv.ReadHeaderTimeout)
	}
	if srv := (Config{}).AdminServer(nil); srv.Addr != ":9090" {
		t.Errorf("default admin address %q, want :9090", srv.Addr)
	}
}

// TestAdmin: what is open, what is guarded, what is not served.
func TestAdmin(t *testing.T) {
	ok := func(body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) })
	}
	full := Admin(AdminConfig{
		Health:   func(mux *http.ServeMux) { mux.Handle("GET /readyz", ok("ready")) },
		Metrics:  ok("metrics"),
		LogLevel: ok("level"),
		Details:  ok("details"),
		Token:    func() string { return tokenA },
		Pprof:    true,
	})
	bare := Admin(AdminConfig{})
	tests := []struct {
		name   string
		h      http.Handler
		method string
		path   string
		token  string
		want   int
	}{
		{"probe open", full, http.MethodGet, "/readyz", "", http.StatusOK},
		{"metrics open", full, http.MethodGet, "/metrics", "", http.StatusOK},
		{"reading the level open", full, http.MethodGet, "/loglevel", "", http.StatusOK},
		{"changing the level guarded", full, http.MethodPut, "/loglevel", "", http.StatusUnauthorized},
		{"changing the level with the token", full, http.MethodPut, "/loglevel", tokenA, http.StatusOK},
		{"details guarded", full, http.MethodGet, "/debug/health", "", http.StatusUnauthorized},
		{"details with the token", full, http.MethodGet, "/debug/health", tokenA, http.StatusOK},
		{"pprof guarded", full, http.MethodGet, "/debug/pprof/", "", http.StatusUnauthorized},
		{"pprof with the token", full, http.MethodGet, "/debug/pprof/", tokenA, http.StatusOK},
		{"nothing configured: no metrics", bare, http.MethodGet, "/metrics", "", http.StatusNotFound},
		{"nothing configured: no pprof", bare, http.MethodGet, "/debug/pprof/", tokenA, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("%s %s: %d, want %d", tt.method, tt.path, w.Code, tt.want)
			}
		})
	}
	// Without a token every guarded endpoint is refused.
	closed := Admin(AdminConfig{LogLevel: ok("level")})
	r := httptest.NewRequest(http.MethodPut, "/loglevel", nil)
	r.Header.Set("Authorization", "Bearer "+tokenA)
	w := httptest.NewRecorder()
	closed.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Errorf("PUT /loglevel with no token configured: %d, want 403", w.Code)
	}
}

func TestLocalURL(t *testing.T) { // AdminURL's, for any address
	tests := []struct {
		addr, want string
		wantErr    bool
	}{
		{":9090", "http://127.0.0.1:9090/readyz", false},
		{"0.0.0.0:9090", "http://127.0.0.1:9090/readyz", false},
		{"[::]:9090", "http://127.0.0.1:9090/readyz", false},
		{"10.0.0.7:9090", "http://10.0.0.7:9090/readyz", false},
		{"[::1]:9090", "http://[::1]:9090/readyz", false},
		{"localhost:9090", "http://localhost:9090/readyz", false},
		{"9090", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := localURL(tt.addr, "/readyz")
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("localURL(%q) = %q, %v; want %q, error %v", tt.addr, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestListen: every port or none; a port in use is the error, and the
// others are free again.
func TestListen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}

	a, b := free(), free()
	lns, err := Listen(a, b)
	if err != nil || len(lns) != 2 || lns[0].Addr().String() != a || lns[1].Addr().String() != b {
		t.Fatalf("Listen(%s, %s) = %v, %v", a, b, lns, err)
	}
	for _, ln := range lns {
		_ = ln.Close()
	}

	for _, addrs := range [][]string{{taken.Addr().String(), a}, {a, taken.Addr().String()}, {a, b, taken.Addr().String()}} {
		if _, err := Listen(addrs...); err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
			t.Errorf("Listen(%v): %v, want the taken port's error", addrs, err)
		}
		for _, addr := range []string{a, b} { // not left open by the failed Listen
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Errorf("after a failed Listen, %s: %v", addr, err)
				continue
			}
			_ = ln.Close()
		}
	}
}

func TestAdminURL(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "http://127.0.0.1:9090/readyz"},
		{Config{AdminAddr: "10.0.0.7:9091"}, "http://10.0.0.7:9091/readyz"},
		{Config{AdminAddr: "nonsense"}, "http://nonsense/readyz"},
	} {
		if got := tt.cfg.AdminURL("/readyz"); got != tt.want {
			t.Errorf("AdminURL of %q = %q, want %q", tt.cfg.AdminAddr, got, tt.want)
		}
	}
}

func TestBudgetProblem(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"defaults", Config{ShutdownTimeout: 25 * time.Second, DrainDelay: 5 * time.Second}, ""},
		{"no drain", Config{ShutdownTimeout: 25 * time.Second}, ""},
		{"drain takes the budget", Config{ShutdownTimeout: 5 * time.Second, DrainDelay: 5 * time.Second}, "raise SHUTDOWN_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cfg.BudgetProblem()
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) || strings.Contains(got, "\n") {
				t.Errorf("BudgetProblem = %q, want one line with %q", got, tt.want)
			}
		})
	}
}
