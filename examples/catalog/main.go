// Command catalog is the minimal prodready service, the one to copy: an
// in-memory product catalogue with JSON logs, traces, RED metrics, health
// probes and a graceful shutdown.
//
//	go run ./examples/catalog                # serves :8080, admin on :9090
//	curl localhost:8080/products/p1
//	curl localhost:9090/readyz
//	catalog healthcheck                      # exit 0 when ready: Docker's HEALTHCHECK
//
// Settings come from the environment: HTTP_ADDR (:8080), ADMIN_ADDR
// (:9090), SHUTDOWN_TIMEOUT (25s), SHUTDOWN_DRAIN_DELAY (5s), LOG_LEVEL
// (info), HTTP_READ_HEADER_TIMEOUT (5s), ADMIN_TOKEN_FILE (the bearer
// token for PUT /loglevel, /debug/health and /debug/pprof/, watched: a
// rotated token needs no restart; unset or without a valid token, they are
// refused), PPROF (false) and the standard OTEL_* variables.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/prodready/prodready/examples/internal/env"
	"github.com/prodready/prodready/examples/internal/service"
)

// version and commit are stamped at build time, as the Dockerfile does:
// go build -ldflags "-X main.version=1.4.2 -X main.commit=$(git rev-parse HEAD)"
var version, commit string

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "catalog:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var e env.Reader
	cfg := service.FromEnv(&e, "catalog", ":8080")
	cfg.Version, cfg.Commit = version, commit
	if err := e.Err(); err != nil {
		return err
	}
	switch {
	case len(args) == 0:
		return service.Run(ctx, cfg, func(context.Context, *service.Service) (http.Handler, error) {
			return newCatalog(products).routes(), nil
		})
	case len(args) == 1 && args[0] == "healthcheck":
		return service.Healthcheck(ctx, cfg.AdminAddr)
	default:
		return fmt.Errorf("unknown arguments %q; usage: catalog [healthcheck]", args)
	}
}
