package server

import (
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

func TestNew(t *testing.T) {
	h := http.NotFoundHandler()
	srv := New(":8080", h)
	if srv.Addr != ":8080" || srv.Handler == nil {
		t.Errorf("Addr %q, Handler %v", srv.Addr, srv.Handler)
	}
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s unset: a client could hold a connection for ever", name)
		}
	}
	if srv.ReadTimeout < srv.ReadHeaderTimeout {
		t.Errorf("ReadTimeout %v < ReadHeaderTimeout %v", srv.ReadTimeout, srv.ReadHeaderTimeout)
	}
	if srv.IdleTimeout <= 60*time.Second {
		t.Errorf("IdleTimeout %v: a load balancer's 60s idle timeout must end idle connections first", srv.IdleTimeout)
	}
	if c := NewClient(0).Transport.(*http.Transport); c.IdleConnTimeout >= srv.IdleTimeout {
		t.Errorf("NewClient's IdleConnTimeout %v is not below New's IdleTimeout %v", c.IdleConnTimeout, srv.IdleTimeout)
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes >= http.DefaultMaxHeaderBytes {
		t.Errorf("MaxHeaderBytes %d, want a cap below the 1 MiB default", srv.MaxHeaderBytes)
	}
}

// TestNewEndsSlowHeaders: a client that never finishes its headers is
// disconnected at ReadHeaderTimeout, to the tick (slowloris).
func TestNewEndsSlowHeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pipes := testenv.NewPipeNet()
		srv := New("", http.NotFoundHandler())
		go func() { _ = srv.Serve(pipes) }()
		defer srv.Close()

		conn, err := pipes.Dial(t.Context(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(conn); err != nil { // ends when the server closes the connection
			t.Fatal(err)
		}
		if took := time.Since(start); took != srv.ReadHeaderTimeout {
			t.Errorf("closed after %v, want %v", took, srv.ReadHeaderTimeout)
		}
	})
}
