package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prodready/prodready/server"
)

func ExampleNew() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello\n") })
	srv := server.New(":8080", http.MaxBytesHandler(mux, 1<<20)) // bodies: 1 MiB at most
	srv.WriteTimeout = 60 * time.Second                          // a service with slower requests
	fmt.Println(srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	// Output: 5s 15s 1m0s 1m15s 16384
}

// A redirect is the caller's to see, not followed.
func ExampleNewClient() {
	peer := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusFound))
	defer peer.Close()

	c := server.NewClient(2 * time.Second)
	resp, err := c.Get(peer.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Location"))
	// Output: 302 /elsewhere
}

// The traffic port capped at two connections: with both busy, a third is
// answered 503 at once.
func ExampleLimit() {
	release := make(chan struct{})
	srv := server.New("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			w.WriteHeader(http.StatusOK)
			_ = http.NewResponseController(w).Flush()
			<-release
		}
	}))
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	capped := server.Limit(srv, ln, 2)
	go func() { _ = srv.Serve(capped) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String()

	for range 2 {
		// Each on a connection of its own; the headers arrive, the body waits.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(url + "/slow")
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url + "/")
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = resp.Body.Close()
	close(release)
	st := capped.Stats()
	fmt.Println(resp.Status, resp.Header.Get("Retry-After"), st.Max, st.Refused)
	// Output: 503 Service Unavailable 1 2 1
}

func ExampleDefaultMaxConns() {
	n := server.DefaultMaxConns() // from RLIMIT_NOFILE; 0 where there is none
	fmt.Println(n >= 0)
	// Output: true
}

// A handler that waits on something slow through its context is freed at
// the deadline; having written nothing, it answers 504.
func ExampleDeadline() {
	slow := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a query against a frozen database
		fmt.Println(context.Cause(r.Context()))
	})
	h := server.Deadline(50 * time.Millisecond)(slow)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/orders/1", nil))
	fmt.Print(rec.Code, " ", rec.Body)
	// Output:
	// server: request deadline exceeded
	// 504 request deadline exceeded
}

func ExampleGuard() {
	token := func() string { return "example-admin-token-7c1f" } // a watched file's value, in a service
	guard := server.Guard(token)
	admin := http.NewServeMux()
	admin.Handle("PUT /loglevel", guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "level changed\n")
	})))

	for _, auth := range []string{"", "Bearer wrong-token-0000000", "Bearer example-admin-token-7c1f"} {
		req := httptest.NewRequest(http.MethodPut, "/loglevel", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body)
	}
	// Output:
	// 401 unauthorized
	// 401 unauthorized
	// 200 level changed
}

func ExampleProfiler() {
	token := func() string { return "example-admin-token-7c1f" }
	admin := http.NewServeMux()
	admin.Handle("GET /debug/pprof/", server.Guard(token)(server.Profiler()))

	req := httptest.NewRequest(http.MethodGet, "/debug/pprof/goroutine?debug=1", nil)
	req.Header.Set("Authorization", "Bearer example-admin-token-7c1f")
	rec := httptest.NewRecorder()
	admin.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output: 200 text/plain; charset=utf-8
}

// A profile asked for longer than the server's write timeout is refused
// with the limit; once the shutdown began (the context passed to
// StopProfiles ended), no new profile starts.
func ExampleStopProfiles() {
	shuttingDown, begin := context.WithCancel(context.Background())
	defer begin()
	srv := httptest.NewUnstartedServer(server.Profiler(server.StopProfiles(shuttingDown)))
	srv.Config.WriteTimeout = 10 * time.Second
	srv.Start()
	defer srv.Close()
	for _, q := range []string{"profile?seconds=60", "trace?seconds=1"} {
		if q == "trace?seconds=1" {
			begin() // SIGTERM: the shutdown's Context ends
		}
		resp, err := srv.Client().Get(srv.URL + "/debug/pprof/" + q)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		fmt.Printf("%d %s", resp.StatusCode, body)
	}
	// Output:
	// 400 seconds=60: a profile must end within the server's write timeout, 10s: ask for less
	// 503 shutting down: no new trace
}

// The admin port's own cap, out of the descriptors the traffic port's cap
// leaves.
func ExampleMaxAdminConns() {
	admin := server.New("127.0.0.1:0", http.NewServeMux())
	ln, err := net.Listen("tcp", admin.Addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	capped := server.Limit(admin, ln, server.MaxAdminConns)
	defer capped.Close()
	fmt.Println(capped.Stats().Max)
	// Output: 32
}

func ExampleValidToken() {
	for _, tok := range []string{"hunter2", "9f86d081884c7d659a2feaa0c55ad015"} {
		err := server.ValidToken([]byte(tok))
		fmt.Println(errors.Is(err, server.ErrInvalidToken), err)
	}
	// Output:
	// true server: not an admin token: shorter than 16 bytes
	// false <nil>
}

// The edge's settings from the environment, and the servers built from
// them with budgets that agree.
func ExampleFromEnv() {
	cfg, err := server.FromEnv(":8080") // HTTP_ADDR, ADMIN_ADDR, HTTP_REQUEST_TIMEOUT, ...
	if err != nil {
		fmt.Println(err) // names every malformed variable
		return
	}
	cfg.RequestTimeout = time.Minute // as HTTP_REQUEST_TIMEOUT=1m would
	routes := http.NewServeMux()
	traffic := cfg.Traffic(routes)    // + tracing.Middleware(), logging.Middleware(logger), red
	fmt.Println(traffic.WriteTimeout) // the deadline answers first, with time to spare
	// Output: 1m5s
}

// The admin port: probes, /metrics and the log level open; changing the
// level, the checks' reasons and the profiler behind the token.
func ExampleAdmin() {
	token := "example-admin-token-0001"
	admin := server.Admin(server.AdminConfig{
		Health:   func(mux *http.ServeMux) { mux.Handle("GET /readyz", http.NotFoundHandler()) }, // checks.Mount
		Metrics:  http.NotFoundHandler(),                                                         // metrics.Handler(reg)
		LogLevel: http.NotFoundHandler(),                                                         // logging.LevelHandler(logger, level)
		Details:  http.NotFoundHandler(),                                                         // checks.Details()
		Token:    func() string { return token },                                                 // a watched file's value
		Pprof:    true,
	})
	r := httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil)
	w := httptest.NewRecorder()
	admin.ServeHTTP(w, r)
	fmt.Println(w.Code)
	// Output: 401
}

// What a "healthcheck" subcommand probes: the admin port on the loopback.
func ExampleConfig_AdminURL() {
	cfg := server.Config{AdminAddr: ":9090"}
	fmt.Println(cfg.AdminURL("/readyz")) // health.Probe(ctx, cfg.AdminURL("/readyz"))
	// Output: http://127.0.0.1:9090/readyz
}

func ExampleNewAdmission() {
	reg := prometheus.NewRegistry()
	// One request in flight at most, to show a refusal; leave the bounds
	// to their defaults in a service.
	adm, err := server.NewAdmission(reg, server.LimitBounds(1, 1), server.InitialLimit(1),
		server.AdmitLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		fmt.Println(err)
		return
	}
	h := adm.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "worked")
	}))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/work", nil))
	fmt.Print(rec.Code, " ", rec.Body)

	busy, _ := adm.Acquire(context.Background()) // another request, in flight
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/work", nil))
	fmt.Print(rec.Code, " Retry-After: ", rec.Header().Get("Retry-After"), " ", rec.Body)
	busy.Release()

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/livez", nil)) // a probe: never refused
	fmt.Print(rec.Code, " ", rec.Body)
	// Output:
	// 200 worked
	// 503 Retry-After: 1 server overloaded, retry later
	// 200 worked
}

func ExampleAdmission_Acquire() {
	adm, err := server.NewAdmission(nil, server.AdmitLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		fmt.Println(err)
		return
	}
	// What a gRPC interceptor does around each call.
	handle := func(ctx context.Context) error {
		p, err := adm.Acquire(ctx)
		if err != nil {
			return err // codes.ResourceExhausted
		}
		defer p.Release()
		return nil // the call's work
	}
	fmt.Println(handle(context.Background()))

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a caller gone before the work started
	err = handle(ctx)
	var refusal *server.Refusal
	fmt.Println(errors.Is(err, server.ErrRefused), errors.As(err, &refusal) && refusal.Reason == server.ReasonExpired)
	// Output:
	// <nil>
	// true true
}
