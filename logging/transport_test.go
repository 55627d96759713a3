package logging_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prodready/prodready/logging"
)

func TestTwoHops(t *testing.T) {
	l, _, out := newLogger(t, logging.Config{})
	mw := logging.Middleware(l)

	b := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logging.FromContext(r.Context()).Info("in B")
		io.WriteString(w, "from B")
	})))
	defer b.Close()
	client := &http.Client{Transport: logging.Transport(b.Client().Transport)}
	defer client.CloseIdleConnections()

	a := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), "GET", b.URL, nil)
		if err != nil {
			t.Error(err)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		if req.Header.Get("X-Correlation-ID") != "" {
			t.Error("Transport changed the caller's request")
		}
		io.Copy(w, resp.Body)
	})))
	defer a.Close()

	for _, incoming := range []string{"", "client-chosen-id"} {
		t.Run("incoming "+incoming, func(t *testing.T) {
			out.Reset()
			req, _ := http.NewRequest("GET", a.URL, nil)
			if incoming != "" {
				req.Header.Set("X-Correlation-ID", incoming)
			}
			resp, err := a.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			id := resp.Header.Get("X-Correlation-ID")
			if incoming != "" && id != incoming {
				t.Fatalf("A answered with ID %q, want %q", id, incoming)
			}
			lines := out.JSON(t)
			if n := len(accessLines(t, out)); n != 2 {
				t.Fatalf("%d access lines, want one from A and one from B", n)
			}
			if len(lines) != 3 {
				t.Fatalf("%d lines, want 3", len(lines))
			}
			for _, m := range lines {
				if m["correlation_id"] != id {
					t.Fatalf("line %v does not carry %q", m, id)
				}
			}
		})
	}
	a.Client().CloseIdleConnections()
}

func TestTransportWithoutRequest(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("X-Correlation-ID"))
	}))
	defer srv.Close()
	c := &http.Client{Transport: logging.Transport(srv.Client().Transport)}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(got) != 1 || got[0] != "" {
		t.Fatalf("B saw %q, want no header outside a request", got)
	}
}

// callsThrough returns a handler that calls url through c with the
// request's context.
func callsThrough(t *testing.T, c *http.Client, url string) http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", url, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	})
}

func TestHeadersOption(t *testing.T) {
	l, _, out := newLogger(t, logging.Config{})
	var forwarded string
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded = r.Header.Get("X-Trace-Token")
	}))
	defer b.Close()
	c := &http.Client{Transport: logging.Transport(b.Client().Transport)}
	defer c.CloseIdleConnections()
	h := logging.Middleware(l, logging.Headers("X-Trace-Token"))(callsThrough(t, c, b.URL))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Trace-Token", "tok-1")
	req.Header.Set("X-Correlation-ID", "ignored")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Trace-Token"); got != "tok-1" {
		t.Fatalf("response X-Trace-Token %q", got)
	}
	if rec.Header().Get("X-Correlation-ID") != "" {
		t.Fatal("default header echoed although Headers replaced it")
	}
	if forwarded != "tok-1" {
		t.Fatalf("Transport forwarded %q in X-Trace-Token", forwarded)
	}
	if m := accessLines(t, out)[0]; m["correlation_id"] != "tok-1" {
		t.Fatalf("access line %v", m)
	}
}

// TestTransportForwardAs: ForwardAs names the header the ID goes out in,
// whatever the Middleware's.
func TestTransportForwardAs(t *testing.T) {
	l, _, _ := newLogger(t, logging.Config{})
	var got http.Header
	b := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer b.Close()
	c := &http.Client{Transport: logging.Transport(b.Client().Transport, logging.ForwardAs("X-Request-ID"))}
	defer c.CloseIdleConnections()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Correlation-ID", "id-7")
	logging.Middleware(l)(callsThrough(t, c, b.URL)).ServeHTTP(httptest.NewRecorder(), req)
	if got.Get("X-Request-ID") != "id-7" || got.Get("X-Correlation-ID") != "" {
		t.Fatalf("downstream got X-Request-ID %q, X-Correlation-ID %q; want id-7 in X-Request-ID only",
			got.Get("X-Request-ID"), got.Get("X-Correlation-ID"))
	}
}
