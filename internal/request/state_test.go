package request

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/prodready/prodready/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// seen is what a layer observed once its next handler returned.
type seen struct {
	route  string
	status int
	bytes  int64
}

// layer behaves as each of our middlewares does with the shared state: it
// runs the protocol and reads the outcome afterwards. Each layer made in a
// row has a kind of its own (four in turn), so stacked ones all record.
func layer(out *seen) func(http.Handler) http.Handler {
	kind := testKinds[nextKind%len(testKinds)]
	nextKind++
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			Serve(kind, r.Context(), w, r, next, seenRecorder{out})
		})
	}
}

var (
	testKinds = [...]Layer{1 << 4, 1 << 5, 1 << 6, 1 << 7}
	nextKind  int
)

type seenRecorder struct{ out *seen }

func (seenRecorder) Begin(*State, http.ResponseWriter, *http.Request) bool { return true }

func (s seenRecorder) Record(_ *State, _ *http.Request, o *Outcome) {
	*s.out = seen{o.Route, o.Status, o.Bytes}
}

type ctxKey struct{}

// userMiddleware hides r.Pattern from every layer outside it, as any
// middleware that calls r.WithContext does.
func userMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, "user")))
	})
}

func TestRouteReachesOuterLayers(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET example.com/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "item "+r.PathValue("id"))
	})
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	var outer, middle, inner seen
	h := layer(&outer)(userMiddleware(layer(&middle)(userMiddleware(layer(&inner)(mux)))))

	tests := []struct {
		name, method, url string
		route             string
		status            int
	}{
		{"pattern with method and host", "GET", "http://example.com/items/42", "/items/{id}", 200},
		{"pattern with method", "POST", "http://other.test/items", "/items", 201},
		{"unmatched", "GET", "http://example.com/nothing", Unmatched, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.url, nil))
			for name, got := range map[string]seen{"outer": outer, "middle": middle, "inner": inner} {
				if got.route != tt.route || got.status != tt.status {
					t.Errorf("%s layer saw route %q status %d, want %q %d", name, got.route, got.status, tt.route, tt.status)
				}
			}
			if rec.Code != tt.status {
				t.Errorf("client got %d, want %d", rec.Code, tt.status)
			}
		})
	}
}

func TestRouteOnSingleHandler(t *testing.T) {
	// The middleware wraps one route's handler: the mux matched before it ran.
	var got seen
	mux := http.NewServeMux()
	mux.Handle("GET /a/{x}", layer(&got)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/a/1", nil))
	if got.route != "/a/{x}" {
		t.Fatalf("route %q, want /a/{x}", got.route)
	}
}

func TestSetRouteWinsOverPattern(t *testing.T) {
	var got seen
	h := layer(&got)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := "/custom/{id}"
		From(r.Context()).SetRoute(&route)
		r.Pattern = "/ignored"
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/custom/7", nil))
	if got.route != "/custom/{id}" {
		t.Fatalf("route %q, want /custom/{id}", got.route)
	}
}

func TestStatusAndBytes(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		status  int
		bytes   int64
	}{
		{"nothing written", func(http.ResponseWriter, *http.Request) {}, 200, 0},
		{"implicit 200", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") }, 200, 5},
		{"explicit code", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, "short and stout")
		}, 418, 15},
		{"WriteHeader twice keeps the first", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			w.WriteHeader(http.StatusInternalServerError)
		}, 202, 0},
		{"flush sends 200", func(w http.ResponseWriter, _ *http.Request) {
			w.(http.Flusher).Flush()
			io.WriteString(w, "x")
		}, 200, 1},
		{"ResponseController flush through Unwrap", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusPartialContent)
			if err := http.NewResponseController(w).Flush(); err != nil {
				panic(err)
			}
		}, 206, 0},
		{"panic before writing: answered", func(http.ResponseWriter, *http.Request) { panic("boom") }, 500, int64(len(panicBody("")))},
		{"panic after writing", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "ab")
			panic("boom")
		}, 201, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got seen
			h := layer(&got)(userMiddleware(layer(new(seen))(tt.handler)))
			func() {
				defer func() { recover() }()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			}()
			if got.status != tt.status || got.bytes != tt.bytes {
				t.Fatalf("status %d bytes %d, want %d %d", got.status, got.bytes, tt.status, tt.bytes)
			}
		})
	}
}

// TestRealServer covers what only a real connection does: ReadFrom on the
// sendfile path, Hijack, and 1xx on the wire (httptest.ResponseRecorder
// takes a 1xx for the final status).
func TestRealServer(t *testing.T) {
	dir := t.TempDir()
	body := strings.Repeat("0123456789", 10000)
	file := filepath.Join(dir, "big.txt")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	results := make(chan seen, 1)
	var got seen
	mux := http.NewServeMux()
	mux.HandleFunc("GET /file", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("writer lost io.ReaderFrom")
		}
		f, err := os.Open(file)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "text/plain")
		io.Copy(w, f) // uses ReadFrom, hence sendfile
	})
	mux.HandleFunc("GET /hijack", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\nhi")
		brw.Flush()
	})
	mux.HandleFunc("GET /hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "gone")
	})
	inner := layer(&got)(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r)
		results <- got
	}))
	defer srv.Close()

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(srv.URL + "/file")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r := <-results
	if n != int64(len(body)) || r.bytes != n || r.status != 200 || r.route != "/file" {
		t.Fatalf("file: client read %d, layer saw %+v", n, r)
	}

	resp, err = client.Get(srv.URL + "/hints")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if r := <-results; resp.StatusCode != 404 || r.status != 404 || r.bytes != 4 {
		t.Fatalf("1xx then 404: client got %d, layer saw %+v", resp.StatusCode, r)
	}

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 101") {
		t.Fatalf("hijacked response %q, %v", line, err)
	}
	<-results
}

func TestHijackedFlag(t *testing.T) {
	srv := httptest.NewServer(nil)
	defer srv.Close()
	hijacked := make(chan bool, 1)
	status := make(chan int, 1)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, w, _ := Enter(r.Context(), w, r)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		hijacked <- s.Hijacked()
		status <- s.Finish(r).Status
	})
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(srv.URL)
	if err == nil {
		resp.Body.Close()
	}
	if !<-hijacked {
		t.Fatal("Hijacked() is false after a successful Hijack")
	}
	if got := <-status; got != http.StatusSwitchingProtocols {
		t.Fatalf("status after a hijack with nothing written = %d, want 101", got)
	}
}

// fakeWriter has the optional interfaces given by its caps bits, like the
// generated wrappers, so that every combination can be checked.
type fakeWriter struct{ http.ResponseWriter }

func (fakeWriter) Flush()                                       {}
func (fakeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, nil }
func (fakeWriter) ReadFrom(io.Reader) (int64, error)            { return 0, nil }
func (fakeWriter) Push(string, *http.PushOptions) error         { return nil }

func TestWrapperKeepsExactlyTheInterfaces(t *testing.T) {
	for caps := uint8(0); caps < 16; caps++ {
		// Build a writer with the caps through a captureWriter of its own:
		// the generated types are exactly the combinations to check.
		under := (&captureWriter{ResponseWriter: fakeWriter{httptest.NewRecorder()}, caps: caps}).wrapped()
		if got := capsOf(under); got != caps {
			t.Fatalf("underlying writer for caps %04b has %04b", caps, got)
		}
		w := New(context.Background(), under).Writer()
		if got := capsOf(w); got != caps {
			t.Errorf("wrapper of a writer with caps %04b has caps %04b", caps, got)
		}
		if http.ResponseWriter(w.(interface{ Unwrap() http.ResponseWriter }).Unwrap()) != under {
			t.Errorf("caps %04b: Unwrap does not return the underlying writer", caps)
		}
	}
}

func TestOneWriterForThreeLayers(t *testing.T) {
	final := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	one := layer(new(seen))(final)
	three := layer(new(seen))(layer(new(seen))(layer(new(seen))(final)))
	req := httptest.NewRequest("GET", "/", nil)
	rec := httptest.NewRecorder()
	serve := func(h http.Handler) func() { return func() { h.ServeHTTP(rec, req) } }
	if extra := testenv.ExtraAllocs(200, serve(three), serve(one)); extra != 0 {
		t.Fatalf("three layers allocate %v per request more than one: the state or writer is made more than once", extra)
	}
	// The state (with writer and context link) and the request copy.
	if extra := testenv.ExtraAllocs(200, serve(one), serve(final)); extra > 2 {
		t.Fatalf("one layer allocates %v per request beyond the bare handler, want at most 2", extra)
	}
}

func TestRouteAndMethod(t *testing.T) {
	routes := map[string]string{
		"/":                     "/",
		"GET /items/{id}":       "/items/{id}",
		"GET example.com/a/{$}": "/a/{$}",
		"example.com/b/":        "/b/",
		"DELETE /x/{rest...}":   "/x/{rest...}",
	}
	for pattern, want := range routes {
		if got := Route(pattern); got != want {
			t.Errorf("Route(%q) = %q, want %q", pattern, got, want)
		}
	}
	methods := map[string]string{"GET": "GET", "PATCH": "PATCH", "get": "OTHER", "PROPFIND": "OTHER", "": "OTHER"}
	for m, want := range methods {
		if got := Method(m); got != want {
			t.Errorf("Method(%q) = %q, want %q", m, got, want)
		}
	}
}

func BenchmarkThreeLayers(b *testing.B) {
	final := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := layer(new(seen))(layer(new(seen))(layer(new(seen))(final)))
	req := httptest.NewRequest("GET", "/", nil)
	rec := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(rec, req)
	}
}

// errFlusher is a writer whose flush fails, as net/http's does once the
// client has gone.
type errFlusher struct {
	http.ResponseWriter
	err error
}

func (e errFlusher) Flush()            {}
func (e errFlusher) FlushError() error { return e.err }

// TestFlushErrorReachesResponseController checks that the error of a failed
// flush is not swallowed: a streaming handler that loops on
// ResponseController.Flush learns the client has gone.
func TestFlushErrorReachesResponseController(t *testing.T) {
	gone := errors.New("client gone")
	tests := []struct {
		name  string
		under http.ResponseWriter
		want  error
	}{
		{"FlushError fails", errFlusher{httptest.NewRecorder(), gone}, gone},
		{"FlushError succeeds", errFlusher{httptest.NewRecorder(), nil}, nil},
		{"Flush only", httptest.NewRecorder(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := New(context.Background(), tt.under)
			if err := http.NewResponseController(st.Writer()).Flush(); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Flush error %v, want %v", err, tt.want)
			}
			if st.Status() != http.StatusOK {
				t.Fatalf("status %d after a flush, want 200", st.Status())
			}
		})
	}
}
