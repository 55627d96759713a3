//go:build ignore

// This file is not built with the overload tool: the tool compiles it in
// place of examples/catalog/main.go (go build -overlay), so every target
// serves the catalog's own routes (GET /work?cpu=D among them) under the
// same stack the catalog ships, tracing, logging with an access line per
// request on stdout, metrics and the request deadline, and differs only
// in the shedder, chosen by SHEDDER:
//
//	prodready  server.Admission, as the catalog ships it
//	gozero     go-zero's adaptive shedder (core/load), as its rest server applies it
//	none       no shedding: the stack of the measurement
//
// GET /db?ms=D&n=N is the I/O-bound route: it waits for one of N slots of
// a "database" (a semaphore) and holds it D milliseconds.
//
// The admin port serves /livez and /metrics, outside any shedder.

package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prodready/prodready/benchmarks/anchors"
	"github.com/prodready/prodready/health"
	"github.com/prodready/prodready/logging"
	"github.com/prodready/prodready/metrics"
	"github.com/prodready/prodready/server"
	"github.com/prodready/prodready/tracing"
)

func main() {
	logger, _, err := logging.New(logging.Config{Service: "catalog", Version: "overload"})
	if err != nil {
		log.Fatal(err)
	}
	slogger := logging.Slog(logger)
	if _, err := tracing.Setup(context.Background(), tracing.Config{ServiceName: "catalog", Logger: slogger}); err != nil {
		log.Fatal(err)
	}
	reg := metrics.NewRegistry()
	red, err := metrics.Middleware(reg)
	if err != nil {
		log.Fatal(err)
	}
	mux := newCatalog(products).routes().(*http.ServeMux)
	db := newDB(atoi(os.Getenv("DB_SLOTS"), 8))
	mux.HandleFunc("GET /db", db.serve)

	var shed func(http.Handler) http.Handler
	switch s := os.Getenv("SHEDDER"); s {
	case "prodready":
		adm, err := server.NewAdmission(reg, server.AdmitLogger(slogger))
		if err != nil {
			log.Fatal(err)
		}
		shed = adm.Middleware
	case "gozero":
		shed = anchors.GoZeroShedding
	case "none":
		shed = func(h http.Handler) http.Handler { return h }
	default:
		log.Fatalf("SHEDDER=%q: want prodready, gozero or none", s)
	}
	deadline := server.Deadline(40 * time.Second)
	traffic := server.New(os.Getenv("HTTP_ADDR"), tracing.Middleware()(logging.Middleware(logger)(red(shed(deadline(mux))))))

	checks := health.New(health.Logger(slogger))
	checks.Start(context.Background())
	admin := http.NewServeMux()
	checks.Mount(admin)
	admin.Handle("GET /metrics", metrics.Handler(reg))
	go func() { log.Fatal(server.New(os.Getenv("ADMIN_ADDR"), admin).ListenAndServe()) }()
	log.Fatal(traffic.ListenAndServe())
}

// db is the slow "database" of GET /db: a semaphore of slots.
type db struct{ slots chan struct{} }

func newDB(n int) *db { return &db{slots: make(chan struct{}, n)} }

func (d *db) serve(w http.ResponseWriter, r *http.Request) {
	hold := time.Duration(atoi(r.URL.Query().Get("ms"), 10)) * time.Millisecond
	select {
	case d.slots <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	t := time.NewTimer(hold)
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
	t.Stop()
	<-d.slots
	if r.Context().Err() == nil {
		w.Write([]byte("ok\n"))
	}
}

func atoi(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return n
	}
	return def
}
