// Package resource is the protected resource service: a Gin HTTP API of
// per-owner items behind RFC 6750 bearer tokens, which it checks with the
// authorization server's RFC 7662 introspection endpoint (it never imports
// the authorization server: the two talk only HTTP).
package resource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/authsvc/authserver/dpop"
	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/internal/reqid"
	"github.com/example/authsvc/store"
)

// Scopes of the item routes.
const (
	ScopeRead  = "items:read"
	ScopeWrite = "items:write"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 64 << 10

// readyTimeout bounds the store ping of /readyz.
const readyTimeout = 2 * time.Second

// DefaultMaxItemsPerOwner is how many items one owner may have unless
// WithMaxItemsPerOwner says otherwise.
const DefaultMaxItemsPerOwner = 10000

// Option adjusts NewServer.
type Option func(*server)

// WithClock sets the clock that token expiry and item timestamps are taken
// from (tests); the default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *server) { s.now = now }
}

// WithMaxItemsPerOwner sets the per-owner quota: a create past it is a
// 409 quota_exceeded. n must be at least 1 (the store refuses less).
func WithMaxItemsPerOwner(n int) Option {
	return func(s *server) { s.maxItemsPerOwner = n }
}

type server struct {
	logger           *slog.Logger
	items            store.ItemStore
	introspector     Introspector
	now              func() time.Time
	maxItemsPerOwner int
	// Operations (ops.go); all optional.
	metrics     *Metrics
	tracing     obs.Tracing
	corsOrigins []string
	ready       func(context.Context) error
	// The token's audience must name audience; DPoP proofs are checked by
	// proofs against publicURL (or the URL as requested when nil), and
	// dpopAlgs is their algs, space-separated, for challenges.
	audience  string
	proofs    *dpop.Verifier
	publicURL *url.URL
	dpopAlgs  string
}

// DefaultAudience is the audience this service requires of tokens by
// default: the authorization server's default audience
// (authserver.DefaultAudience).
const DefaultAudience = "urn:authsvc:items"

// WithAudience sets the audience tokens must be for.
func WithAudience(aud string) Option {
	return func(s *server) { s.audience = aud }
}

// WithDPoP sets the DPoP proof checker and the public URL of this service
// (scheme, host and any path prefix) that proofs name; a nil URL means the
// URL as each request reached the service.
func WithDPoP(v *dpop.Verifier, publicURL *url.URL) Option {
	return func(s *server) { s.proofs, s.publicURL = v, publicURL }
}

// NewServer returns the service's HTTP handler. introspector decides about
// tokens; wrap an IntrospectionClient in a Cache for production use. The
// caller chooses Gin's mode (gin.SetMode) before calling; cmd/resource runs
// in release mode.
func NewServer(logger *slog.Logger, items store.ItemStore, introspector Introspector, opts ...Option) http.Handler {
	s := &server{logger: logger, items: items, introspector: introspector, now: time.Now,
		maxItemsPerOwner: DefaultMaxItemsPerOwner, audience: DefaultAudience}
	for _, opt := range opts {
		opt(s)
	}
	if s.proofs == nil {
		now := s.now
		// The default configuration cannot fail.
		s.proofs, _ = dpop.NewVerifier(dpop.Config{Now: func() time.Time { return now() }})
	}
	s.dpopAlgs = strings.Join(s.proofs.Algs(), " ")

	e := gin.New()
	// Unknown paths and methods get JSON like every other error, and a
	// trailing slash is a different path rather than a redirect.
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	// No handler uses the client address; trust no forwarding header.
	_ = e.SetTrustedProxies(nil)
	e.Use(s.logRequests(), s.recoverPanics(), limitBody)
	e.NoRoute(func(c *gin.Context) { renderError(c, errNotFound("no such endpoint")) })
	e.NoMethod(func(c *gin.Context) {
		renderError(c, &apiError{status: http.StatusMethodNotAllowed, code: codeMethodNotAllowed,
			description: "method " + c.Request.Method + " is not allowed here"})
	})
	s.routes(e)
	return s.wrap(e)
}

// routes lists every endpoint.
func (s *server) routes(e *gin.Engine) {
	e.GET("/healthz", s.handleHealthz)
	e.GET("/readyz", handle(s.handleReadyz))

	items := e.Group("/items", s.authenticate())
	items.GET("", requireScope(ScopeRead), handle(s.handleListItems))
	items.POST("", requireScope(ScopeWrite), handle(s.handleCreateItem))
	items.GET("/:id", requireScope(ScopeRead), handle(s.handleGetItem))
	items.DELETE("/:id", requireScope(ScopeWrite), handle(s.handleDeleteItem))
}

// handle adapts a handler that returns its failure to Gin; renderError
// answers it.
func handle(fn func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := fn(c); err != nil {
			renderError(c, err)
		}
	}
}

func (s *server) handleHealthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (s *server) handleReadyz(c *gin.Context) error {
	ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
	defer cancel()
	if err := s.items.Ping(ctx); err != nil {
		return errUnavailable("the item store is not reachable", fmt.Errorf("ping item store: %w", err))
	}
	if s.ready != nil {
		if err := s.ready(ctx); err != nil {
			return errUnavailable("the authorization server is unreachable or refuses this service's credentials", err)
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
	return nil
}

// limitBody caps every request body; reading past the cap fails with
// *http.MaxBytesError, which handlers answer with 413.
func limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes)
	}
	c.Next()
}

// requestID is the id logRequests gave the request.
func requestID(c *gin.Context) string { return reqid.From(c.Request.Context()) }

// logRequests writes one line per request. It logs the path without the
// query (a misplaced access_token would be in it) and never a header.
func (s *server) logRequests() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		id := reqid.FromHeader(c.GetHeader(reqid.Header))
		c.Header(reqid.Header, id)
		c.Request = c.Request.WithContext(reqid.With(c.Request.Context(), id))

		c.Next()

		status := c.Writer.Status()
		// An unknown path is not logged: a misplaced token could be in it.
		route, path := c.FullPath(), bounded(c.Request.URL.Path)
		if route == "" {
			route, path = obs.UnknownHandler, obs.UnknownHandler
		}
		s.metrics.observeHTTP(route, status, time.Since(start))
		// A span that records nothing ignores its name: build the name
		// only for one that keeps it (an allocation per request otherwise).
		ctx := c.Request.Context()
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.SetName(c.Request.Method + " " + route)
		}
		level := slog.LevelInfo
		switch {
		case status == http.StatusServiceUnavailable:
			level = slog.LevelWarn
		case status >= 500:
			level = slog.LevelError
		}
		// Nothing below is needed when the line is not written.
		if !s.logger.Enabled(ctx, level) {
			return
		}
		// Room for every attribute, so that the slice stays on the stack.
		attrs := make([]slog.Attr, 0, 8)
		attrs = append(attrs,
			slog.String("method", c.Request.Method),
			slog.String("path", path),
			slog.Int("status", status),
			slog.String("route", route),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", id),
		)
		if in := caller(c); in.Active {
			attrs = append(attrs, slog.String("client_id", in.ClientID))
		}
		if len(c.Errors) > 0 {
			errs := make([]error, 0, len(c.Errors))
			for _, e := range c.Errors {
				errs = append(errs, e.Err)
			}
			attrs = append(attrs, slog.Any("err", errors.Join(errs...)))
		}
		s.logger.LogAttrs(ctx, level, "request", attrs...)
	}
}

// bounded cuts a request value for the log.
func bounded(s string) string {
	const maxLogged = 256
	if len(s) <= maxLogged {
		return s
	}
	return s[:maxLogged] + "..."
}

// recoverPanics turns a panic into a JSON 500; the stack goes to the log,
// never to the client.
func (s *server) recoverPanics() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { // == as net/http does: the panic value is the sentinel itself, never wrapped
				panic(v)
			}
			s.logger.ErrorContext(c.Request.Context(), "panic serving request",
				"request_id", requestID(c), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if c.Writer.Written() {
				c.Abort()
				return
			}
			renderError(c, fmt.Errorf("panic: %v", v))
		}()
		c.Next()
	}
}
