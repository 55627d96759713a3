// Command hello is the floor of the start-up measurement: a bare net/http
// hello world that answers 200 on /livez of ADMIN_ADDR, with nothing to
// set up first.
package main

import (
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("hello"))
	})
	srv := &http.Server{Addr: os.Getenv("ADMIN_ADDR"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
