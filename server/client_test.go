package server

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prodready/prodready/internal/testenv"
)

// TestNewClientReturnsRedirects: a 3xx comes back to the caller as the
// response; its target is never requested. The last case is the one
// orders met: a product ID "." makes ServeMux answer 307 to the cleaned
// path, the product list.
func TestNewClientReturnsRedirects(t *testing.T) {
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			var followed atomic.Bool
			mux := http.NewServeMux()
			mux.HandleFunc("/products/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/list", code) })
			mux.HandleFunc("/list", func(http.ResponseWriter, *http.Request) { followed.Store(true) })
			srv := httptest.NewServer(mux)
			defer srv.Close()
			c := NewClient(time.Second)
			defer c.CloseIdleConnections()

			resp, err := c.Get(srv.URL + "/products/p1")
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != code || resp.Header.Get("Location") != "/list" {
				t.Errorf("got %s Location %q, want %d to /list", resp.Status, resp.Header.Get("Location"), code)
			}
			if followed.Load() {
				t.Error("the redirect was followed")
			}
		})
	}
	t.Run("ServeMux cleaning a path", func(t *testing.T) {
		var followed atomic.Bool
		mux := http.NewServeMux()
		mux.HandleFunc("GET /products/", func(http.ResponseWriter, *http.Request) { followed.Store(true) })
		srv := httptest.NewServer(mux)
		defer srv.Close()
		c := NewClient(time.Second)
		defer c.CloseIdleConnections()
		resp, err := c.Get(srv.URL + "/products/p1/..")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect || followed.Load() {
			t.Errorf("got %s (followed: %v), want the mux's 307 itself", resp.Status, followed.Load())
		}
	})
}

// TestNewClientBoundsEveryPhase: the transport has a bound for each phase
// and its idle pools are bounded.
func TestNewClientBoundsEveryPhase(t *testing.T) {
	tests := []struct {
		name        string
		timeout     time.Duration
		wantTimeout time.Duration
	}{
		{"default", 0, 10 * time.Second},
		{"negative means default", -time.Second, 10 * time.Second},
		{"set", 300 * time.Millisecond, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(tt.timeout)
			tr := c.Transport.(*http.Transport)
			if c.Timeout != tt.wantTimeout || tr.ResponseHeaderTimeout != tt.wantTimeout {
				t.Errorf("Timeout %v, ResponseHeaderTimeout %v; want %v", c.Timeout, tr.ResponseHeaderTimeout, tt.wantTimeout)
			}
			if tr.TLSHandshakeTimeout <= 0 || tr.TLSHandshakeTimeout > tt.wantTimeout || tr.IdleConnTimeout <= 0 ||
				tr.MaxIdleConns <= 0 || tr.MaxIdleConnsPerHost <= 0 || tr.MaxIdleConnsPerHost > tr.MaxIdleConns || tr.DialContext == nil || tr.Proxy == nil {
				t.Errorf("transport with an unbounded phase or pool: %+v", tr)
			}
		})
	}
}

// TestNewClientTimesOut: a peer that accepts and never answers costs the
// caller its timeout, to the tick, not for ever.
func TestNewClientTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pipes := testenv.NewPipeNet()
		defer pipes.Close()
		held := make(chan net.Conn, 1)
		go func() {
			c, err := pipes.Accept()
			if err == nil {
				held <- c // never answered
			}
		}()
		const timeout = 2 * time.Second
		c := NewClient(timeout)
		tr := c.Transport.(*http.Transport)
		tr.DialContext = pipes.Dial // the in-memory network; every other setting is NewClient's
		defer tr.CloseIdleConnections()

		start := time.Now()
		resp, err := c.Get("http://peer/")
		if err == nil {
			_ = resp.Body.Close()
			t.Fatal("a silent peer answered")
		}
		if took := time.Since(start); took != timeout {
			t.Errorf("gave up after %v, want %v: %v", took, timeout, err)
		}
		conn := <-held
		_, _ = io.Copy(io.Discard, conn) // the client closed its end
		_ = conn.Close()
	})
}
