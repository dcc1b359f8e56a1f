package authserver

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/authsvc/internal/reqid"
)

// logFields is filled in by handlers as a request is understood, and
// written once when it ends.
type logFields struct {
	clientID string
	username string // of the grant a token was issued for
	route    string // the mux pattern that served the request
}

type logFieldsKey struct{}

// setLogClient records the client id a request claimed, for the access log.
func setLogClient(ctx context.Context, id string) {
	if f, ok := ctx.Value(logFieldsKey{}).(*logFields); ok {
		f.clientID = bounded(id)
	}
}

// setLogUser records the user a grant is for, for its token_issued event.
func setLogUser(ctx context.Context, username string) {
	if f, ok := ctx.Value(logFieldsKey{}).(*logFields); ok {
		f.username = bounded(username)
	}
}

func logUser(ctx context.Context) string {
	if f, ok := ctx.Value(logFieldsKey{}).(*logFields); ok {
		return f.username
	}
	return ""
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (sr *statusRecorder) WriteHeader(code int) {
	if sr.status == 0 {
		sr.status = code
	}
	sr.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's Flush and
// deadlines (the revocation stream needs them).
func (sr *statusRecorder) Unwrap() http.ResponseWriter { return sr.ResponseWriter }

func (sr *statusRecorder) Write(b []byte) (int, error) {
	if sr.status == 0 {
		sr.status = http.StatusOK
	}
	return sr.ResponseWriter.Write(b)
}

// observe wraps the mux once: request id, access log, trace span, CORS
// and metrics, outermost first.
func (s *server) observe(mux *http.ServeMux) http.Handler {
	var h http.Handler = s.instrument(s.cors(mux))
	if s.cfg.Tracing.Enabled() {
		h = otelhttp.NewHandler(h, "authserver",
			otelhttp.WithTracerProvider(s.cfg.Tracing.Provider),
			otelhttp.WithPropagators(s.cfg.Tracing.Propagator))
	}
	return s.logRequests(h)
}

// instrument counts the request by the pattern the mux chose (the mux sets
// r.Pattern on the request it is given; a CORS preflight answered before
// the mux counts as unknown), never by the raw path, and names
// the trace span after it.
func (s *server) instrument(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		route := routeLabel(r.Pattern)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.metrics.http.Observe(route, rec.status, time.Since(start))
		// A span that records nothing ignores its name: build the name
		// only for one that keeps it (an allocation per request otherwise).
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			span.SetName(r.Method + " " + route)
		}
		if f, ok := r.Context().Value(logFieldsKey{}).(*logFields); ok {
			f.route = route
		}
	})
}

// routeLabel is the path of a mux pattern ("POST /token" → "/token"); the
// catch-all "/" and a preflight that never reached the mux are "unknown".
func routeLabel(pattern string) string {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '/' {
			pattern = pattern[i:]
			break
		}
	}
	if pattern == "" || pattern == "/" {
		return "unknown"
	}
	return pattern
}

// logRequests gives the request its id and writes one line per request.
// It logs the route, never the query or body: those can carry credentials.
// Routes here have no parameters, so the route is the path; an unknown
// path is not logged at all, since a misplaced token could be in it.
//
// The line is written with LogAttrs and typed attributes: key-value
// arguments box each string and the duration into an interface, five
// allocations per request even when the level is off. The record's
// fields and its status recorder share one allocation.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		req := &loggedRequest{statusRecorder: statusRecorder{ResponseWriter: w}}
		id := reqid.FromHeader(r.Header.Get(reqid.Header))
		w.Header().Set(reqid.Header, id)
		ctx := reqid.With(context.WithValue(r.Context(), logFieldsKey{}, &req.fields), id)
		next.ServeHTTP(&req.statusRecorder, r.WithContext(ctx))
		if req.status == 0 {
			req.status = http.StatusOK
		}
		s.logger.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", req.fields.route),
			slog.Int("status", req.status),
			slog.Duration("duration", time.Since(start)),
			slog.String("client_id", req.fields.clientID),
			slog.String("request_id", id),
		)
	})
}

// loggedRequest is what logRequests keeps of one request.
type loggedRequest struct {
	fields logFields
	statusRecorder
}

// maxLoggedBytes bounds any request value a log line carries.
const maxLoggedBytes = 256

// bounded cuts a request value to maxLoggedBytes, so that no request makes
// a log line longer than a few of them.
func bounded(s string) string {
	if len(s) <= maxLoggedBytes {
		return s
	}
	return s[:maxLoggedBytes] + "..."
}
