package authserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"
)

// logFields is filled in by handlers as a request is understood, and
// written once when it ends.
type logFields struct{ clientID string }

type logFieldsKey struct{}

// setLogClient records the client id a request claimed, for the access log.
func setLogClient(ctx context.Context, id string) {
	if f, ok := ctx.Value(logFieldsKey{}).(*logFields); ok {
		f.clientID = bounded(id)
	}
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

func (sr *statusRecorder) Write(b []byte) (int, error) {
	if sr.status == 0 {
		sr.status = http.StatusOK
	}
	return sr.ResponseWriter.Write(b)
}

// logRequests writes one line per request. It logs the path, never the
// query or body: those can carry credentials.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		fields := &logFields{}
		id := requestID()
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), logFieldsKey{}, fields)))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.logger.InfoContext(r.Context(), "request",
			"method", r.Method,
			"path", bounded(r.URL.Path),
			"status", rec.status,
			"duration", time.Since(start),
			"client_id", fields.clientID,
			"request_id", id,
		)
	})
}

func requestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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
