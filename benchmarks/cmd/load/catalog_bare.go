//go:build ignore

// This file is not built with the load tool: the tool compiles it in
// place of examples/catalog/main.go (go build -overlay), so the bare twin
// serves the catalog's own routes, from the same catalog.go, on a plain
// http.Server with the example's timeouts, and none of prodready around
// them: no tracing, logging or metrics middleware, no admin port.

package main

import (
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	srv := &http.Server{
		Addr:              os.Getenv("HTTP_ADDR"),
		Handler:           newCatalog(products).routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      45 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}
