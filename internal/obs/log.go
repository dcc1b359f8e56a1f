// Package obs is what both services share to be operated: their logger
// (text or JSON, with the service name and the request id), the Prometheus
// registry and HTTP instrumentation, the metrics listener, and the
// OpenTelemetry tracer provider. Each service defines its own domain
// metrics next to the code that counts them.
package obs

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"

	"github.com/example/authsvc/internal/reqid"
)

// Log formats.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// NewLogger returns the service's logger writing to w in format (text or
// json) at level. Every record carries service, and the request id of its
// context when there is one, so that a line logged while serving a request
// can be tied to that request's access-log line.
func NewLogger(w io.Writer, format, service string, level slog.Leveler) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch format {
	case FormatText, "":
		h = slog.NewTextHandler(w, opts)
	case FormatJSON:
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want %s or %s", format, FormatText, FormatJSON)
	}
	return slog.New(requestIDHandler{h}).With("service", service), nil
}

// requestIDHandler adds request_id from the record's context, unless the
// record already has one.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := reqid.From(ctx); id != "" {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "request_id"
			return !has
		})
		if !has {
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// ErrorLog adapts logger for http.Server.ErrorLog, so that what net/http
// logs (TLS handshake errors, panics) is a record like any other.
func ErrorLog(logger *slog.Logger) *log.Logger {
	return slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
}
