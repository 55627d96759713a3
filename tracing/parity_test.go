package tracing_test

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/prodready/prodready/tracing"
)

// TestSemconvParity runs the same requests through our middleware and
// through otelhttp, the official instrumentation, and compares span names,
// kinds, statuses and attributes. Where we differ, we add what the HTTP
// semantic conventions ask for and otelhttp leaves out:
//   - http.route when the middleware wraps the mux (otelhttp reads
//     r.Pattern only before the mux has run, so it names the span but
//     never sets the attribute);
//   - error.type "5xx code" on 5xx responses ("conditionally required" for
//     requests that ended in an error).
func TestSemconvParity(t *testing.T) {
	tests := []struct {
		name, method, target, body string
		header                     map[string]string
		wantExtra                  map[string]string
	}{
		{name: "matched", method: "GET", target: "/users/42", wantExtra: map[string]string{"http.route": "/users/{id}"}},
		{name: "https with port", method: "GET", target: "https://api.example.com:8443/users/1", wantExtra: map[string]string{"http.route": "/users/{id}"}},
		{name: "post body read", method: "POST", target: "/users", body: `{"name":"ada"}`, wantExtra: map[string]string{"http.route": "/users"}},
		{name: "unmatched", method: "GET", target: "/nowhere"},
		{name: "5xx", method: "GET", target: "/fail", wantExtra: map[string]string{"http.route": "/fail", "error.type": "503"}},
		{name: "unknown method", method: "PURGE", target: "/fail", wantExtra: map[string]string{"http.route": "/fail", "error.type": "503"}},
		{
			name: "forwarded and traced", method: "GET", target: "/users/3",
			header: map[string]string{
				"X-Forwarded-For": "203.0.113.9, 10.0.0.1",
				"traceparent":     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
			},
			wantExtra: map[string]string{"http.route": "/users/{id}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours, oursRec := recorder(t)
			theirs, theirsRec := recorder(t)
			handlers := []http.Handler{
				tracing.Middleware(tracing.TracerProvider(ours), tracing.Propagator(w3c))(testMux()),
				otelhttp.NewHandler(testMux(), "server", otelhttp.WithTracerProvider(theirs),
					otelhttp.WithPropagators(w3c), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider())),
			}
			for _, h := range handlers {
				req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
				req.RemoteAddr = "192.0.2.1:1234"
				req.Header.Set("User-Agent", "parity")
				for k, v := range tt.header {
					req.Header.Set(k, v)
				}
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
			o, th := oursRec.Ended(), theirsRec.Ended()
			if len(o) != 1 || len(th) != 1 {
				t.Fatalf("spans: ours %d, otelhttp %d; want 1 each", len(o), len(th))
			}
			if o[0].Name() != th[0].Name() || o[0].SpanKind() != th[0].SpanKind() || o[0].Status() != th[0].Status() {
				t.Errorf("ours %q %v %+v, otelhttp %q %v %+v", o[0].Name(), o[0].SpanKind(), o[0].Status(),
					th[0].Name(), th[0].SpanKind(), th[0].Status())
			}
			if o[0].Parent().TraceID() != th[0].Parent().TraceID() || o[0].Parent().SpanID() != th[0].Parent().SpanID() {
				t.Errorf("parent: ours %v, otelhttp %v", o[0].Parent(), th[0].Parent())
			}
			want := attrs(th[0])
			maps.Copy(want, tt.wantExtra)
			if got := attrs(o[0]); !maps.Equal(got, want) {
				t.Errorf("attributes differ:\n ours     %v\n otelhttp %v (plus %v)", got, attrs(th[0]), tt.wantExtra)
			}
		})
	}
}
