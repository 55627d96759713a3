package request_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prodready/prodready/internal/request"
	"github.com/prodready/prodready/internal/testenv"
)

// inBubble serves the handler made by h with srv's settings over in-memory
// connections and calls fn with a client for it, all on synctest's clock.
// h gets the channel fn receives as done, to close when prodready's layers
// have recorded the request (see signal); it is made in the bubble, so
// that waiting on it lets the clock run. Everything is shut down before
// inBubble returns.
func inBubble(t *testing.T, srv *http.Server, h func(done chan<- struct{}) http.Handler, fn func(c *http.Client, done <-chan struct{})) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		l := testenv.NewPipeNet()
		done := make(chan struct{})
		srv.Handler = h(done)
		srv.ErrorLog = log.New(io.Discard, "", 0)
		go func() { _ = srv.Serve(l) }()
		tr := &http.Transport{DialContext: l.Dial}
		fn(&http.Client{Transport: tr}, done)
		tr.CloseIdleConnections()
		_ = srv.Close()
		synctest.Wait()
	})
}

// signal calls h and then closes done: by then every layer inside has
// recorded the request.
func signal(h http.Handler, done chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		h.ServeHTTP(w, r)
	})
}

// TestTimeoutHandlerOutside: http.TimeoutHandler answers 503 while the
// handler still runs; prodready's layers, inside it, record the 503 the
// client got and error type timeout, not the 200 of the handler they see
// return.
func TestTimeoutHandlerOutside(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"handler stops at the deadline", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
		{"handler writes after the deadline", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(2 * time.Second)
			_, _ = io.WriteString(w, "late")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			mux := http.NewServeMux()
			mux.Handle("GET /slow", tt.handler)
			h := func(done chan<- struct{}) http.Handler {
				return http.TimeoutHandler(signal(s.standard(mux), done), time.Second, "too slow")
			}
			inBubble(t, &http.Server{}, h, func(c *http.Client, done <-chan struct{}) {
				res, err := c.Get("http://pipe/slow")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				_ = res.Body.Close()
				if res.StatusCode != http.StatusServiceUnavailable || string(body) != "too slow" {
					t.Fatalf("client got %d %q, want 503 too slow", res.StatusCode, body)
				}
				<-done
			})
			s.agree(t, record{"/slow", "503", request.FailTimeout}, true)
			if a := s.accessLines(t)[0]; a["bytes"] != 0.0 || a["level"] != "error" {
				t.Errorf("access line bytes %v level %v, want 0 error", a["bytes"], a["level"])
			}
		})
	}
}

// TestWriteTimeout: a handler still running when the server's WriteTimeout
// has passed: what it writes cannot be sent, and the client gets no
// response. A handler that moved its deadline on has not timed out.
func TestWriteTimeout(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    record
		answer  bool // whether the client gets the response
	}{
		{"past the deadline", func(w http.ResponseWriter, _ *http.Request) {
			time.Sleep(2 * time.Second)
			_, _ = io.WriteString(w, "late")
		}, record{"/slow", "200", request.FailWriteTimeout}, false},
		{"status written, then past the deadline", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			time.Sleep(2 * time.Second)
		}, record{"/slow", "202", request.FailWriteTimeout}, false},
		{"deadline moved on", func(w http.ResponseWriter, _ *http.Request) {
			if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				panic(err)
			}
			time.Sleep(2 * time.Second)
			_, _ = io.WriteString(w, "late")
		}, ok("/slow", 200), true},
		{"within the deadline", func(w http.ResponseWriter, _ *http.Request) {
			time.Sleep(500 * time.Millisecond)
			_, _ = io.WriteString(w, "in time")
		}, ok("/slow", 200), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			mux := http.NewServeMux()
			mux.Handle("GET /slow", tt.handler)
			h := func(done chan<- struct{}) http.Handler { return signal(s.standard(mux), done) }
			inBubble(t, &http.Server{WriteTimeout: time.Second}, h, func(c *http.Client, done <-chan struct{}) {
				res, err := c.Get("http://pipe/slow")
				if err == nil {
					_, err = io.ReadAll(res.Body)
					_ = res.Body.Close()
				}
				if (err == nil) != tt.answer {
					t.Errorf("client error %v, want a response %v", err, tt.answer)
				}
				<-done
			})
			s.agree(t, tt.want, true)
		})
	}
}

// TestFailedResponses: a response that ends in a panic after its status,
// a client that went away, or a flush that failed is a failure in all
// three, with the status that was sent.
func TestFailedResponses(t *testing.T) {
	tests := []struct {
		name    string
		handler func(started chan<- struct{}) http.HandlerFunc
		client  func(t *testing.T, c *http.Client, url string, started <-chan struct{})
		want    record
		level   string
	}{
		{
			name: "panic after WriteHeader(202)",
			handler: func(chan<- struct{}) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(http.StatusAccepted)
					panic("boom")
				}
			},
			client: func(t *testing.T, c *http.Client, url string, _ <-chan struct{}) {
				if res, err := c.Get(url); err == nil {
					_ = res.Body.Close()
					t.Errorf("the client got %d from a handler that panicked", res.StatusCode)
				}
			},
			want: record{"/work", "202", request.FailPanic}, level: "error",
		},
		{
			name: "client went away",
			handler: func(started chan<- struct{}) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					close(started)
					<-r.Context().Done()
				}
			},
			client: func(t *testing.T, c *http.Client, url string, started <-chan struct{}) {
				ctx, cancel := context.WithCancel(context.Background())
				go func() { <-started; cancel() }()
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				if _, err := c.Do(req); !errors.Is(err, context.Canceled) {
					t.Errorf("client error %v, want context.Canceled", err)
				}
			},
			want: record{"/work", "499", request.FailClientGone}, level: "warn",
		},
		{
			name: "flush failed",
			handler: func(started chan<- struct{}) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) {
					rc := http.NewResponseController(w)
					for i := 0; ; i++ {
						_, _ = io.WriteString(w, "event\n")
						if err := rc.Flush(); err != nil {
							return
						}
						if i == 0 {
							close(started)
						}
					}
				}
			},
			client: func(t *testing.T, c *http.Client, url string, started <-chan struct{}) {
				res, err := c.Get(url)
				if err != nil {
					t.Fatal(err)
				}
				<-started
				_ = res.Body.Close() // mid-stream: the connection goes
			},
			want: record{"/work", "200", request.FailClientGone}, level: "warn",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			started := make(chan struct{})
			mux := http.NewServeMux()
			mux.Handle("GET /work", tt.handler(started))
			done := make(chan struct{})
			srv := httptest.NewUnstartedServer(signal(s.standard(mux), done))
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.Start()
			defer srv.Close()
			tt.client(t, srv.Client(), srv.URL+"/work", started)
			<-done
			s.agree(t, tt.want, true)
			if a := s.accessLines(t)[0]; a["level"] != tt.level {
				t.Errorf("access line level %v, want %s", a["level"], tt.level)
			}
		})
	}
}
