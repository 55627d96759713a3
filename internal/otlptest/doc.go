// Package otlptest is a real OTLP/HTTP trace receiver for tests: it decodes
// the protobuf an exporter sends to POST /v1/traces (gzip or not), answers
// with a proper ExportTraceServiceResponse, and keeps the spans as plain
// strings and maps that a test compares with reflect.DeepEqual.
//
// Point an exporter at it with OTEL_EXPORTER_OTLP_ENDPOINT=r.Endpoint() (or
// otlptracehttp.WithEndpointURL) and wait for what it sent with
// WaitForSpans.
//
// # Usage
//
//	r := otlptest.NewReceiver(t)
//	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.Endpoint())
//	// ... run code that exports spans, flush it ...
//	spans, err := r.WaitForSpans(ctx, 2)
package otlptest
