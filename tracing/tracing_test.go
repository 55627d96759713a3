package tracing_test

import (
	"testing"

	"github.com/prodready/prodready/tracing"
)

func TestTraceID(t *testing.T) {
	tp, _ := recorder(t)
	ctx, span := tp.Tracer("t").Start(t.Context(), "s")
	defer span.End()
	tests := []struct {
		name string
		ctx  func() string
		want string
	}{
		{"none", func() string { return tracing.TraceID(t.Context()) }, ""},
		{"span", func() string { return tracing.TraceID(ctx) }, span.SpanContext().TraceID().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ctx(); got != tt.want {
				t.Errorf("TraceID = %q, want %q", got, tt.want)
			}
		})
	}
}
