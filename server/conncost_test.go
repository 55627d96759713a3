package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

// heldBytes is what the Go runtime holds for live objects and goroutine
// stacks after a collection: what a connection costs that GOMEMLIMIT
// counts.
func heldBytes() uint64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// measureConnCost serves with srv's settings, holds n connections that
// each sent headers of about fill bytes without the blank line that ends
// them, and returns the memory each one holds.
func measureConnCost(t *testing.T, maxHeader, fill, n int) uint64 {
	t.Helper()
	srv := New("", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.MaxHeaderBytes = maxHeader
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	// One header line of fill bytes would be read into one buffer; lines
	// of 1 KiB are what a client stuffing headers sends.
	var head strings.Builder
	head.WriteString("GET / HTTP/1.1\r\nHost: t\r\n")
	for i := 0; head.Len() < fill-1100; i++ {
		fmt.Fprintf(&head, "X-Fill-%d: %s\r\n", i, strings.Repeat("a", 1000))
	}
	before := heldBytes()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, head.String()); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	time.Sleep(500 * time.Millisecond) // the server has read what was sent
	after := heldBytes()
	return (after - before) / uint64(n)
}

// TestConnCost measures what a connection with unfinished headers holds,
// for MaxHeaderBytes of 64 KiB (the old default), 16 KiB and 8 KiB, and
// checks connCost, the budget's estimate, is not below it. Run with -v
// to see the numbers docs/hardening.md quotes.
func TestConnCost(t *testing.T) {
	if testenv.Race {
		t.Skip("measures memory, which the race detector multiplies; scripts/test runs it without -race")
	}
	for _, maxHeader := range []int{64 << 10, 16 << 10, 8 << 10} {
		got := measureConnCost(t, maxHeader, maxHeader, 200)
		t.Logf("MaxHeaderBytes %d KiB: %d KiB held per connection with unfinished headers (estimate %d KiB)", maxHeader>>10, got>>10, connCost(maxHeader)>>10)
		if got > uint64(connCost(maxHeader)) {
			t.Errorf("MaxHeaderBytes %d: measured %d bytes per connection, above the budget's estimate %d", maxHeader, got, connCost(maxHeader))
		}
	}
}
