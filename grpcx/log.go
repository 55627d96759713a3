package grpcx

import (
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prodready/prodready/internal/request"
)

// Bounds on what a client controls in an access line, as on the HTTP side.
const (
	maxMethodBytes = 256
	maxValueBytes  = 1 << 10
	maxStackBytes  = 8 << 10
)

// bounded cuts s to at most n bytes, marking the cut.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "...[truncated]"
}

// errorType names what went wrong in the outcome vocabulary of the HTTP
// side (internal/request): panic, client_gone, timeout, and otherwise the
// code's name for the codes that are the server's fault; "" for success
// and for the caller's mistakes (NotFound, InvalidArgument, ...).
func errorType(c codes.Code, panicked, shed bool) string {
	switch {
	case panicked:
		return request.FailPanic
	case shed:
		return request.FailShed
	case c == codes.Canceled:
		return request.FailClientGone
	case c == codes.DeadlineExceeded:
		return request.FailTimeout
	case serverFault(c):
		return c.String()
	}
	return ""
}

// serverFault reports the codes OpenTelemetry counts as a server span's
// error, less DeadlineExceeded (a timeout above).
func serverFault(c codes.Code) bool {
	switch c {
	case codes.Unknown, codes.Unimplemented, codes.Internal, codes.Unavailable, codes.DataLoss:
		return true
	}
	return false
}

// level is error for a server fault or a panic, warn for a client that
// left or ran out of time, info otherwise.
func level(c codes.Code, panicked bool) zapcore.Level {
	switch {
	case panicked || (serverFault(c) && c != codes.Unimplemented):
		return zapcore.ErrorLevel
	case c == codes.Canceled || c == codes.DeadlineExceeded || c == codes.Unimplemented:
		return zapcore.WarnLevel
	}
	return zapcore.InfoLevel
}

// logAccess writes the one access line of r: method, code, duration
// (seconds), peer, msg_received, msg_sent, correlation_id, trace_id and
// span_id, error_type, and for a panic its value and stack.
func (s *Server) logAccess(r *rpc, st *status.Status, d time.Duration, sc trace.SpanContext) {
	c := st.Code()
	ce := s.logger.Check(level(c, r.didPanic), "rpc")
	if ce == nil {
		return
	}
	fs := make([]zap.Field, 0, 14)
	fs = append(fs,
		zap.String("method", bounded(r.full, maxMethodBytes)),
		zap.String("grpc_type", r.series.typ),
		zap.String("code", c.String()),
		zap.Float64("duration", d.Seconds()),
	)
	if r.peer != nil {
		fs = append(fs, zap.String("peer", bounded(r.peer.String(), maxValueBytes)))
	}
	fs = append(fs,
		zap.Int64("msg_received", r.recvd.Load()),
		zap.Int64("msg_sent", r.sent.Load()),
		zap.String("correlation_id", r.id),
	)
	if sc.IsValid() {
		fs = append(fs, zap.String("trace_id", sc.TraceID().String()), zap.String("span_id", sc.SpanID().String()))
	}
	if et := errorType(c, r.didPanic, r.shed); et != "" {
		fs = append(fs, zap.String("error_type", et))
	}
	if r.didPanic {
		fs = append(fs,
			zap.String("panic", bounded(fmt.Sprint(r.panicValue), maxValueBytes)),
			zap.String("stacktrace", bounded(string(r.stack), maxStackBytes)))
	} else if c != codes.OK {
		fs = append(fs, zap.String("error", bounded(st.Message(), maxValueBytes)))
	}
	ce.Write(fs...)
}
