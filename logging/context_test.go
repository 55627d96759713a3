package logging_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/prodready/prodready/internal/testenv"
	"github.com/prodready/prodready/logging"
)

func TestFromContext(t *testing.T) {
	l, _, out := newLogger(t, logging.Config{})
	tr := newTracer(t)
	var wg sync.WaitGroup
	h := logging.Middleware(l)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		first := logging.FromContext(ctx)
		if logging.FromContext(ctx) != first {
			t.Error("FromContext built a second logger for the same span")
		}
		// Goroutines of the handler share the request logger safely.
		for range 4 {
			wg.Go(func() { logging.FromContext(ctx).Info("fan-out") })
		}
		wg.Wait()
		child, span := tr.Start(ctx, "child")
		logging.FromContext(child).Info("in child")
		span.End()
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	var child map[string]any
	for _, m := range out.JSON(t) {
		if m["msg"] == "in child" {
			child = m
		}
	}
	if child == nil || child["span_id"] == nil || child["correlation_id"] == nil {
		t.Fatalf("child span line %v lacks span_id or correlation_id", child)
	}
}

func TestFromContextOutsideRequest(t *testing.T) {
	if logging.FromContext(context.Background()) == nil {
		t.Fatal("nil logger outside a request")
	}
	if logging.CorrelationID(context.Background()) != "" {
		t.Fatal("correlation ID outside a request")
	}
	s := new(testenv.LogBuffer)
	g := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(s), zap.DebugLevel))
	defer zap.ReplaceGlobals(g)()
	ctx, span := newTracer(t).Start(context.Background(), "job")
	defer span.End()
	logging.FromContext(ctx).Info("background job")
	m := s.JSON(t)[0]
	if m["trace_id"] != span.SpanContext().TraceID().String() {
		t.Fatalf("line %v lacks the span's trace_id", m)
	}
}
