package health_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/prodready/prodready/health"
)

// quiet silences a Checker's log: the examples print what they show.
var quiet = slog.New(slog.DiscardHandler)

// statusOf probes h at target and prints the code and the body's status
// and reasons (times and durations vary from run to run).
func statusOf(h http.Handler, target string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	var b struct {
		Status string `json:"status"`
		Output string `json:"output"`
		Checks map[string][]struct {
			Status string `json:"status"`
			Output string `json:"output"`
		} `json:"checks"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &b)
	fmt.Printf("%s %d %s", target, rec.Code, b.Status)
	if b.Output != "" {
		fmt.Printf(" (%s)", b.Output)
	}
	for _, name := range []string{"cache", "db", "search"} {
		if c, ok := b.Checks[name]; ok {
			fmt.Printf(" %s=%s", name, c[0].Status)
			if c[0].Output != "" {
				fmt.Printf(" (%s)", c[0].Output)
			}
		}
	}
	fmt.Println()
}

func ExampleNew() {
	checker := health.New(health.Logger(quiet))
	checker.AddLiveness("loop", func(context.Context) error { return nil })
	checker.AddReadiness("db", func(context.Context) error { return nil }, health.Timeout(2*time.Second))
	checker.AddReadiness("search", func(context.Context) error {
		return errors.New("index not loaded")
	}, health.Critical(false))

	mux := http.NewServeMux()
	checker.Mount(mux)
	statusOf(mux, "/livez")
	statusOf(mux, "/readyz")
	statusOf(mux, "/readyz/db")
	statusOf(mux, "/readyz?exclude=search")
	// Output:
	// /livez 200 pass
	// /readyz 200 warn db=pass search=warn
	// /readyz/db 200 pass db=pass
	// /readyz?exclude=search 200 pass db=pass
}

func ExampleShowReasons() {
	checker := health.New(health.ShowReasons(true), health.Logger(quiet))
	checker.AddReadiness("db", func(context.Context) error { return errors.New("connection refused") })
	statusOf(checker.Handler(health.Readiness), "/readyz")
	// Output:
	// /readyz 503 fail db=fail (connection refused)
}

func ExampleOnEvent() {
	checker := health.New(
		health.Logger(quiet),
		health.OnEvent(func(ev health.Event) {
			// Export ev.Status and ev.Duration as metrics here, or log ev.Err.
			fmt.Printf("%s %s: %s -> %s (%v)\n", ev.Kind, ev.Name, ev.Previous, ev.Status, ev.Err)
		}),
	)
	checker.AddReadiness("db", func(context.Context) error { return errors.New("connection refused") })
	rec := httptest.NewRecorder()
	checker.Handler(health.Readiness).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	// Output:
	// readiness db: unknown -> fail (connection refused)
}

func ExampleLogger() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{} // vary from run to run
			}
			return a
		},
	}))
	checker := health.New(health.Logger(logger))
	checker.AddReadiness("db", func(context.Context) error { return errors.New("connection refused") })
	checker.Handler(health.Readiness).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/readyz", nil))
	// Output:
	// level=WARN msg="health check failed" check=db kind=readiness status=fail previous=unknown error="connection refused"
}

func ExampleInterval() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	checker := health.New(health.Logger(quiet))
	// Runs every 10s in the background; probes read the latest result.
	checker.AddReadiness("cache", func(context.Context) error { return nil }, health.Interval(10*time.Second))
	srv := httptest.NewServer(checker.Handler(health.Readiness))
	defer srv.Close()
	statusOf(checker.Handler(health.Readiness), "/readyz") // before Start: no result yet
	checker.Start(ctx)
	// The first run starts at once, in the background; wait for its result.
	for health.Probe(ctx, srv.URL+"/readyz") != nil {
		time.Sleep(time.Millisecond)
	}
	statusOf(checker.Handler(health.Readiness), "/readyz")
	// Output:
	// /readyz 503 fail cache=fail
	// /readyz 200 pass cache=pass
}

func ExampleFailureThreshold() {
	checker := health.New(health.Logger(quiet))
	results := []error{nil, errors.New("blip"), errors.New("blip"), errors.New("blip")}
	checker.AddReadiness("db", func(context.Context) error {
		err := results[0]
		results = results[1:]
		return err
	}, health.FailureThreshold(3))
	for range 4 {
		statusOf(checker.Handler(health.Readiness), "/readyz")
	}
	// Output:
	// /readyz 200 pass db=pass
	// /readyz 200 pass db=pass
	// /readyz 200 pass db=pass
	// /readyz 503 fail db=fail
}

func ExampleChecker_Drain() {
	checker := health.New(health.Logger(quiet))
	checker.AddReadiness("db", func(context.Context) error { return nil })
	checker.Drain() // e.g. shutdown's OnDrain(checker.Drain)
	statusOf(checker.Handler(health.Readiness), "/readyz")
	// Output:
	// /readyz 503 fail (draining)
}

func ExamplePingContext() {
	// Any *sql.DB is a Pinger; this one is never opened, so the example
	// needs no driver.
	var db *sql.DB
	var _ health.Pinger = db

	checker := health.New(health.Logger(quiet), health.ShowReasons(true))
	checker.AddReadiness("db", health.PingContext(pinger{}), health.Timeout(2*time.Second))
	statusOf(checker.Handler(health.Readiness), "/readyz")
	// Output:
	// /readyz 200 pass db=pass
}

type pinger struct{}

func (pinger) PingContext(context.Context) error { return nil }

func ExampleDial() {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer func() { _ = l.Close() }()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	err := health.Dial("tcp", l.Addr().String())(context.Background())
	fmt.Println(err)
	// Output:
	// <nil>
}

func ExampleHTTPGet() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	check := health.HTTPGet(srv.Client(), srv.URL+"/readyz")
	err := check(context.Background())
	fmt.Println(errors.Is(err, health.ErrStatus))
	// Output:
	// true
}

func ExampleProbe() {
	checker := health.New(health.Logger(quiet))
	checker.AddReadiness("db", func(context.Context) error { return nil })
	mux := http.NewServeMux()
	checker.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// In a binary: `app healthcheck` runs this and exits 0 or 1.
	if err := health.Probe(context.Background(), srv.URL+"/readyz"); err != nil {
		fmt.Println("unhealthy:", err)
		return
	}
	fmt.Println("healthy")
	// Output:
	// healthy
}

// Details tells what the probes withhold: each check's error. Serve it
// behind the admin port's guard.
func ExampleChecker_Details() {
	checks := health.New(health.Logger(quiet))
	checks.AddReadiness("postgres", func(context.Context) error { return errors.New("dial 10.0.0.5:5432: connection refused") })
	probe := httptest.NewRecorder()
	checks.Handler(health.Readiness).ServeHTTP(probe, httptest.NewRequest(http.MethodGet, "/readyz", nil))

	w := httptest.NewRecorder()
	checks.Details().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/debug/health", nil))
	var body struct {
		Checks []struct{ Name, Kind, Status, Error string }
	}
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	fmt.Println(probe.Code, body.Checks)
	// Output: 503 [{postgres readiness fail dial 10.0.0.5:5432: connection refused}]
}
