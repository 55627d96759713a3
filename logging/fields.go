package logging

import (
	"unicode/utf8"

	"go.uber.org/zap/zapcore"
)

// FieldSet names the keys of every line, so that a log backend finds the
// level, the message and the trace where it looks for them. The zero value
// is OpenTelemetry's set.
type FieldSet struct{ k *keys }

// keys are the JSON keys of one field set. Access-line keys are here too,
// because ECS has names of its own for them.
type keys struct {
	name string

	time, level, msg, caller, stack, logger string
	levelEnc                                zapcore.LevelEncoder
	service, version                        string
	static                                  map[string]string // constant fields, e.g. ecs.version

	correlation, traceID, spanID, sampled string
	tracePrefix                           string // GCP wants projects/P/traces/ID

	method, route, path, status, bytes, duration, remote, userAgent string
	durationNanos                                                   bool // ECS event.duration is in nanoseconds
	panicKey, errorType                                             string
}

// String returns the name of the field set.
func (f FieldSet) String() string { return f.keys().name }

func (f FieldSet) keys() *keys {
	if f.k == nil {
		return otelKeys
	}
	return f.k
}

// otelKeys is the default: flat, lowercase keys as in the design, and
// trace_id/span_id as OpenTelemetry's log data model names them. It is
// never written after package initialisation.
var otelKeys = &keys{
	name: "opentelemetry",
	time: "time", level: "level", msg: "msg", caller: "caller", stack: "stacktrace", logger: "logger",
	levelEnc: zapcore.LowercaseLevelEncoder,
	service:  "service", version: "version",
	correlation: "correlation_id", traceID: "trace_id", spanID: "span_id",
	method: "method", route: "route", path: "path", status: "status", bytes: "bytes",
	duration: "duration", remote: "remote", userAgent: "user_agent",
	panicKey: "panic", errorType: "error_type",
}

// OpenTelemetry returns the default field set: time, level, msg, caller,
// service, version, correlation_id, trace_id, span_id.
func OpenTelemetry() FieldSet { return FieldSet{otelKeys} }

// GoogleCloud returns the field set that Cloud Logging understands:
// severity (DEBUG … EMERGENCY), message, and the trace as
// logging.googleapis.com/trace "projects/<project>/traces/<id>" with
// logging.googleapis.com/spanId and logging.googleapis.com/trace_sampled,
// so that the Logs Explorer links each line to its trace. With an empty
// project the trace is written as the bare ID.
func GoogleCloud(project string) FieldSet {
	k := *otelKeys
	k.name = "googlecloud"
	k.level, k.levelEnc = "severity", gcpLevel
	k.msg = "message"
	k.stack = "stack_trace" // where Error Reporting looks for it
	k.traceID = "logging.googleapis.com/trace"
	k.spanID = "logging.googleapis.com/spanId"
	k.sampled = "logging.googleapis.com/trace_sampled"
	if project != "" {
		k.tracePrefix = "projects/" + project + "/traces/"
	}
	return FieldSet{&k}
}

// ECS returns the Elastic Common Schema field set: @timestamp, log.level,
// message, service.name, service.version, trace.id, span.id,
// http.request.id for the correlation ID, ecs.version, and ECS names on the
// access line (http.request.method, url.path, http.response.status_code,
// http.response.body.bytes, event.duration in nanoseconds, client.address,
// user_agent.original). The caller goes to log.origin.file.name as
// "file:line".
func ECS() FieldSet {
	return FieldSet{&keys{
		name: "ecs",
		time: "@timestamp", level: "log.level", msg: "message", caller: "log.origin.file.name",
		stack: "error.stack_trace", logger: "log.logger",
		levelEnc: zapcore.LowercaseLevelEncoder,
		service:  "service.name", version: "service.version",
		static:      map[string]string{"ecs.version": "8.11.0"},
		correlation: "http.request.id", traceID: "trace.id", spanID: "span.id",
		method: "http.request.method", route: "http.route", path: "url.path",
		status: "http.response.status_code", bytes: "http.response.body.bytes",
		duration: "event.duration", durationNanos: true,
		remote: "client.address", userAgent: "user_agent.original",
		panicKey: "error.message", errorType: "error.type",
	}}
}

// gcpLevel maps zap's levels onto Cloud Logging's LogSeverity names.
func gcpLevel(l zapcore.Level, enc zapcore.PrimitiveArrayEncoder) {
	switch l {
	case zapcore.DebugLevel:
		enc.AppendString("DEBUG")
	case zapcore.InfoLevel:
		enc.AppendString("INFO")
	case zapcore.WarnLevel:
		enc.AppendString("WARNING")
	case zapcore.ErrorLevel:
		enc.AppendString("ERROR")
	case zapcore.DPanicLevel:
		enc.AppendString("CRITICAL")
	case zapcore.PanicLevel:
		enc.AppendString("ALERT")
	case zapcore.FatalLevel:
		enc.AppendString("EMERGENCY")
	default:
		enc.AppendString("DEFAULT")
	}
}

// The bounds of the access line. Each value a request controls (method,
// route, path, remote address, user agent) and the panic value take at
// most maxValueBytes (1 KiB) once JSON-encoded, the stack at most maxStackBytes (8 KiB);
// what is cut ends in "...[truncated]". With the fixed fields that keeps the line
// under 16 KiB, where Docker's json-file driver and most shippers split
// or drop a line, whatever a client sends.
const (
	maxValueBytes = 1024
	maxStackBytes = 8 << 10
	truncated     = "...[truncated]"
)

// bounded returns s, or its longest prefix (whole UTF-8 sequences) that
// with truncated after it takes at most limit bytes once zap's JSON encoder
// has escaped it.
func bounded(s string, limit int) string {
	if len(s)*6 <= limit { // even escaped byte by byte it fits
		return s
	}
	budget := limit - len(truncated)
	n, cut := 0, -1
	for i := 0; i < len(s); {
		c, size, w := s[i], 1, 1
		switch {
		case c >= utf8.RuneSelf:
			r, sz := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && sz == 1 {
				w = len(`\ufffd`)
			} else {
				size, w = sz, sz
			}
		case c == '\\' || c == '"' || c == '\n' || c == '\r' || c == '\t':
			w = 2
		case c < 0x20:
			w = len(`\u0000`)
		}
		if cut < 0 && n+w > budget {
			cut = i
		}
		n += w
		if n > limit {
			return s[:cut] + truncated
		}
		i += size
	}
	return s
}
