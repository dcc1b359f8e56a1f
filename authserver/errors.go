package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// oauthError is what a handler returns for a request it refuses: the HTTP
// status, the RFC 6749 §5.2 error code and a description safe to show, plus
// a cause that is logged and never shown.
type oauthError struct {
	status      int
	code        string
	description string
	cause       error
	allow       string        // for 405
	retryAfter  time.Duration // for 429 and 503
	throttled   string        // reasonThrottled or reasonBusy: counted in metrics
}

func (e *oauthError) Error() string {
	if e.cause != nil {
		return e.code + ": " + e.description + ": " + e.cause.Error()
	}
	return e.code + ": " + e.description
}

func (e *oauthError) Unwrap() error { return e.cause }

func errInvalidRequest(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", description: desc}
}

func errInvalidGrant(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_grant", description: desc}
}

func errInvalidScope(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_scope", description: desc}
}

// errThrottled answers a source that has used up its failures (429).
func errThrottled(retryAfter time.Duration) *oauthError {
	return &oauthError{status: http.StatusTooManyRequests, code: "temporarily_unavailable",
		description: "too many failed attempts from this address; retry later", retryAfter: retryAfter, throttled: reasonThrottled}
}

// errBusy answers a request that found no capacity (503).
func errBusy(retryAfter time.Duration) *oauthError {
	return &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		description: "the server is busy; retry later", retryAfter: retryAfter, throttled: reasonBusy}
}

func errInvalidClient() *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", description: "client authentication failed"}
}

// handlerFunc is an http.Handler that reports refusals and failures as an
// error value; serve renders them in one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// renderer turns a handler's error into a response. It is the only place that
// writes an error body, so every endpoint gets the same RFC 6749 §5.2 shape,
// the no-store headers and the Basic challenge.
type renderer struct {
	logger    *slog.Logger
	realm     string
	throttled *prometheus.CounterVec // by reason
}

func (rd renderer) serve(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			rd.renderError(w, r, err)
		}
	})
}

func (rd renderer) renderError(w http.ResponseWriter, r *http.Request, err error) {
	var oe *oauthError
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; nobody reads this answer.
		rd.logger.DebugContext(r.Context(), "client went away", "path", r.URL.Path)
		oe = &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", description: "request cancelled"}
	} else if !errors.As(err, &oe) {
		// Anything unexpected is our fault: log the cause once, show nothing.
		rd.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		oe = &oauthError{status: http.StatusInternalServerError, code: "server_error", description: "internal error"}
	} else if oe.cause != nil {
		rd.logger.InfoContext(r.Context(), "request refused", "path", r.URL.Path, "code", oe.code, "cause", oe.cause)
	}
	if oe.throttled != "" && rd.throttled != nil {
		rd.throttled.WithLabelValues(oe.throttled).Inc()
	}
	h := w.Header()
	// RFC 6749 §5.2 requires the challenge when Basic was tried; RFC 9110
	// §15.5.2 wants one on every 401, so it is always sent.
	if oe.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="`+rd.realm+`", charset="UTF-8"`)
	}
	if oe.allow != "" {
		h.Set("Allow", oe.allow)
	}
	if oe.retryAfter > 0 {
		h.Set("Retry-After", retryAfterSeconds(oe.retryAfter))
	}
	writeJSON(w, oe.status, map[string]string{"error": oe.code, "error_description": oe.description})
}

// retryAfterSeconds is RFC 9110 §10.2.3's whole seconds, rounded up so
// nobody retries early.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// writeJSON writes v with the headers RFC 6749 §5.1 requires of every token
// response; they are right for the other endpoints' answers too, since those
// carry token metadata.
func writeJSON(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// setJSONHeaders are the headers of every JSON answer: none may be cached.
func setJSONHeaders(h http.Header) {
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}
