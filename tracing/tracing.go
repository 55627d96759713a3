package tracing

import (
	"context"

	"go.opentelemetry.io/otel/trace"
)

// TraceID returns the hex trace ID of the span in ctx, or "" when there is
// none: for error pages and support tickets.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
