package service_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prodready/prodready/examples/internal/env"
	"github.com/prodready/prodready/examples/internal/service"
)

func ExampleFromEnv() {
	e := env.Reader{Lookup: func(k string) (string, bool) {
		return map[string]string{"SHUTDOWN_DRAIN_DELAY": "2s"}[k], k == "SHUTDOWN_DRAIN_DELAY"
	}}
	cfg := service.FromEnv(&e, "catalog", ":8080")
	fmt.Println(cfg.HTTPAddr, cfg.AdminAddr, cfg.ShutdownTimeout, cfg.DrainDelay, e.Err())
	// Output: :8080 :9090 25s 2s <nil>
}

// A service's main: its routes, run until SIGTERM and a graceful shutdown.
func ExampleRun() {
	run := func(ctx context.Context) error {
		var e env.Reader
		cfg := service.FromEnv(&e, "hello", ":8080")
		if err := e.Err(); err != nil {
			return err
		}
		return service.Run(ctx, cfg, func(_ context.Context, s *service.Service) (http.Handler, error) {
			mux := http.NewServeMux()
			mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("hello\n"))
			})
			return mux, nil
		})
	}
	_ = run // called from main: if err := run(context.Background()); err != nil { os.Exit(1) }
}
