package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prodready/prodready/internal/request"
	"github.com/prodready/prodready/internal/testenv"
)

// TestDeadline: what the handler's context does and what the client gets,
// for each way a handler meets the deadline. In a synctest bubble, so the
// times are exact.
func TestDeadline(t *testing.T) {
	const d = 3 * time.Second
	tests := []struct {
		name      string
		handler   func(w http.ResponseWriter, r *http.Request)
		parent    time.Duration // a deadline of the caller's own, 0 for none
		wantAfter time.Duration // when the handler's context ends
		wantCause error
		wantCode  int
		wantBody  string
	}{
		{
			name:      "blocked on its context, writes nothing: 504",
			handler:   func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			wantAfter: d, wantCause: ErrDeadline,
			wantCode: http.StatusGatewayTimeout, wantBody: "request deadline exceeded\n",
		},
		{
			name: "answers for itself at the deadline: its answer stays",
			handler: func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
				http.Error(w, `{"error":"database timeout"}`, http.StatusServiceUnavailable)
			},
			wantAfter: d, wantCause: ErrDeadline,
			wantCode: http.StatusServiceUnavailable, wantBody: `{"error":"database timeout"}` + "\n",
		},
		{
			name: "streaming when the deadline comes: the response stays as written",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for {
					_, _ = io.WriteString(w, "tick\n")
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return
					case <-time.After(time.Second):
					}
				}
			},
			wantAfter: d, wantCause: ErrDeadline,
			wantCode: http.StatusOK, wantBody: "tick\ntick\ntick\ntick\n",
		},
		{
			name:      "done before the deadline",
			handler:   func(w http.ResponseWriter, _ *http.Request) { time.Sleep(time.Second); _, _ = io.WriteString(w, "ok") },
			wantAfter: time.Second, wantCause: context.Canceled, // by the middleware, once the handler returned
			wantCode: http.StatusOK, wantBody: "ok",
		},
		{
			name:      "the caller's earlier deadline is not ours: no 504",
			handler:   func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			parent:    time.Second,
			wantAfter: time.Second, wantCause: context.DeadlineExceeded,
			wantCode: http.StatusOK,
		},
	}
	for _, tt := range tests {
		// Alone; beneath prodready's telemetry, where the deadline lives
		// in its state; and behind a value a middleware between added,
		// where it cannot.
		for _, where := range []string{"alone", "in_state", "behind_a_value"} {
			t.Run(tt.name+"/"+where, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					var ended time.Duration
					var cause error
					start := time.Now()
					h := Deadline(d)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						context.AfterFunc(r.Context(), func() {
							ended, cause = time.Since(start), context.Cause(r.Context())
						})
						tt.handler(w, r)
					}))
					ctx := t.Context()
					if tt.parent > 0 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, tt.parent)
						defer cancel()
					}
					rec := httptest.NewRecorder()
					var w http.ResponseWriter = rec
					if where != "alone" {
						s := request.New(ctx, rec)
						ctx, w = s, s.Writer()
					}
					if where == "behind_a_value" {
						ctx = context.WithValue(ctx, userKey{}, "u1")
					}
					h.ServeHTTP(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil))
					synctest.Wait() // the AfterFunc
					if ended != tt.wantAfter || !errors.Is(cause, tt.wantCause) {
						t.Errorf("context ended after %v with %v, want %v with %v", ended, cause, tt.wantAfter, tt.wantCause)
					}
					if rec.Code != tt.wantCode || rec.Body.String() != tt.wantBody {
						t.Errorf("response %d %q, want %d %q", rec.Code, rec.Body, tt.wantCode, tt.wantBody)
					}
				})
			})
		}
	}
}

type userKey struct{}

func TestDeadlineOff(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		rec := httptest.NewRecorder()
		Deadline(d)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := r.Context().Deadline(); ok {
				t.Errorf("Deadline(%v) set a deadline", d)
			}
			if _, ok := w.(*httptest.ResponseRecorder); !ok {
				t.Errorf("Deadline(%v) wrapped the writer: %T", d, w)
			}
		})).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	}
}

// TestDeadlineJoinsTheState: inside prodready's telemetry middlewares
// (here, the state they create), the deadline adds no writer of its own,
// its 504 is the status they read, and the route the mux matched beneath
// it reaches them.
func TestDeadlineJoinsTheState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mux := http.NewServeMux()
		var handed http.ResponseWriter
		mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
			handed = w
			<-r.Context().Done()
		})
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/items/7", nil)
		outer := request.New(r.Context(), rec) // what the outermost telemetry layer does
		Deadline(time.Second)(mux).ServeHTTP(outer.Writer(), r.WithContext(outer))
		if handed != outer.Writer() {
			t.Errorf("the handler got %T, not the telemetry's writer", handed)
		}
		if outer.Status() != http.StatusGatewayTimeout || rec.Code != http.StatusGatewayTimeout {
			t.Errorf("telemetry read %d, the client got %d; want 504 for both", outer.Status(), rec.Code)
		}
		if got := outer.Route(); got != "/items/{id}" {
			t.Errorf("route %q, want /items/{id}", got)
		}
	})
}

// TestDeadlineStreams: through a real server, each chunk the handler
// flushes reaches the client while the handler still runs, by
// http.Flusher and by http.ResponseController: nothing is buffered.
func TestDeadlineStreams(t *testing.T) {
	read := make(chan struct{})
	srv := httptest.NewServer(Deadline(time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flushers := []func(){
			func() { w.(http.Flusher).Flush() },
			func() { _ = http.NewResponseController(w).Flush() },
		}
		for _, flush := range flushers {
			_, _ = io.WriteString(w, "chunk\n")
			flush()
			select {
			case <-read: // the client has this chunk; the handler goes on
			case <-r.Context().Done():
				return
			}
		}
	})))
	defer srv.Close()
	client := srv.Client()
	client.Timeout = 10 * time.Second // a bound on a broken run: buffering would hang here
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 2 {
		line, err := br.ReadString('\n')
		if err != nil || line != "chunk\n" {
			t.Fatalf("chunk %d: %q %v", i, line, err)
		}
		read <- struct{}{}
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the chunks: %q %v", rest, err)
	}
}

// TestDeadlineAllocs: on the request path, the deadline costs
// context.WithTimeoutCause's four allocations (the context, its timer and
// the timer's callback, the cancel func), the request copy and, without
// the telemetry's state to join, the state: no more. (Inside a state the
// floor's own request copy may stay on the stack, so the gate is the
// same.)
func TestDeadlineAllocs(t *testing.T) {
	if testenv.Race {
		t.Skip("the race detector allocates")
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	d := Deadline(time.Minute)(h)
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	tests := []struct {
		name       string
		f, floor   func()
		wantAtMost float64
	}{
		{"alone", func() { d.ServeHTTP(w, r) }, func() { h.ServeHTTP(w, r) }, 6},
		// The deadline kept in the state: no context, timer or request
		// copy for a handler that does not wait on its context.
		{"inside the telemetry's state", func() {
			s := request.New(r.Context(), w)
			serveOpaque(d, s.Writer(), r.WithContext(s))
		}, func() {
			s := request.New(r.Context(), w)
			serveOpaque(h, s.Writer(), r.WithContext(s))
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testenv.ExtraAllocs(100, tt.f, tt.floor); got > tt.wantAtMost {
				t.Errorf("Deadline allocates %.2f times per request, want at most %.0f", got, tt.wantAtMost)
			}
		})
	}
}

// serveOpaque calls h where the compiler cannot see through it, so that
// the request copy escapes to the heap with and without the deadline, as
// it does in a server.
//
//go:noinline
func serveOpaque(h http.Handler, w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }

func BenchmarkDeadline(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, bc := range []struct {
		name   string
		h      http.Handler
		joined bool
	}{
		{"bare", h, false},
		{"deadline", Deadline(time.Minute)(h), false},
		{"bare/in_state", h, true},
		{"deadline/in_state", Deadline(time.Minute)(h), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if bc.joined {
					s := request.New(r.Context(), w)
					bc.h.ServeHTTP(s.Writer(), r.WithContext(s))
				} else {
					bc.h.ServeHTTP(w, r)
				}
			}
		})
	}
}

// errServerEnded stands for shutdown.ErrBudget: a cause the server gave
// the request's context through its BaseContext.
var errServerEnded = errors.New("the server ended the request")

// TestDeadlineServerEnded: a request context the server ended (the
// shutdown's budget) gets a 503 with Retry-After when the handler wrote
// nothing, not net/http's empty 200; a client that left gets nothing.
func TestDeadlineServerEnded(t *testing.T) {
	block := Deadline(time.Hour)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	for _, tt := range []struct {
		name     string
		cause    error
		wantCode int
	}{
		{"the server ended it", errServerEnded, http.StatusServiceUnavailable},
		{"the client left", context.Canceled, http.StatusOK}, // the recorder's default: nothing was written
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(t.Context())
			cancel(tt.cause)
			rec := httptest.NewRecorder()
			block.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil))
			if rec.Code != tt.wantCode || (tt.wantCode == http.StatusServiceUnavailable) != (rec.Header().Get("Retry-After") != "") {
				t.Errorf("%d %v, want %d", rec.Code, rec.Header(), tt.wantCode)
			}
		})
	}
}
