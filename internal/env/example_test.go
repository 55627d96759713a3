package env_test

import (
	"fmt"
	"time"

	"github.com/prodready/prodready/internal/env"
)

func ExampleReader() {
	vars := map[string]string{"SHUTDOWN_TIMEOUT": "10s", "SHUTDOWN_DRAIN_DELAY": "soon"}
	e := env.Reader{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	addr := e.String("HTTP_ADDR", ":8080")
	timeout := e.Duration("SHUTDOWN_TIMEOUT", 25*time.Second)
	_ = e.Duration("SHUTDOWN_DRAIN_DELAY", 5*time.Second)
	fmt.Println(addr, timeout)
	fmt.Println(e.Err())
	// Output:
	// :8080 10s
	// SHUTDOWN_DRAIN_DELAY="soon": want a duration such as 5s: time: invalid duration "soon"
}
