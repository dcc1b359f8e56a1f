package resource

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/cors"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/internal/reqid"
)

// WithMetrics counts the service's requests in m.
func WithMetrics(m *Metrics) Option {
	return func(s *server) { s.metrics = m }
}

// WithTracing records a span per request and continues a caller's W3C
// trace.
func WithTracing(t obs.Tracing) Option {
	return func(s *server) { s.tracing = t }
}

// WithCORS lets browser clients from origins call /items.
func WithCORS(origins []string) Option {
	return func(s *server) { s.corsOrigins = origins }
}

// WithReadiness makes /readyz also require check (typically a
// CachedCheck of IntrospectionClient.CheckCredentials), so that a service
// whose authorization server is down or refuses its credentials is not
// sent traffic; it still starts, and /healthz stays 200.
func WithReadiness(check func(context.Context) error) Option {
	return func(s *server) { s.ready = check }
}

// wrap puts the per-request tracing and CORS around the Gin engine.
func (s *server) wrap(h http.Handler) http.Handler {
	if len(s.corsOrigins) > 0 {
		c := cors.New(cors.Options{
			AllowedOrigins:       s.corsOrigins,
			AllowedMethods:       []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete},
			AllowedHeaders:       []string{"Authorization", "Content-Type"},
			OptionsSuccessStatus: http.StatusNoContent,
		}).Handler(h)
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/items" || strings.HasPrefix(r.URL.Path, "/items/") {
				c.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	switch p := s.tracing.Propagator; {
	case s.tracing.Enabled():
		h = otelhttp.NewHandler(h, "resource",
			otelhttp.WithTracerProvider(s.tracing.Provider),
			otelhttp.WithPropagators(p))
	case p != nil:
		// No spans of ours, but a traced caller's trace context is passed
		// on to the introspection call (outbound), so its trace still
		// reaches the authorization server. Reading one header is all
		// this costs when there is none.
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Traceparent") != "" {
				r = r.WithContext(p.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
			}
			next.ServeHTTP(w, r)
		})
	}
	return h
}

// outbound is the introspection client's transport: it sends the request
// id of the request being served, and, when tracing is on, a span and its
// W3C traceparent, so one request can be followed through both services.
// With tracing off it sends on the trace context the request came with,
// if any (see wrap).
func outbound(next http.RoundTripper, t obs.Tracing) http.RoundTripper {
	if !t.Enabled() {
		return requestIDTransport{next: next, propagator: t.Propagator}
	}
	return otelhttp.NewTransport(requestIDTransport{next: next},
		otelhttp.WithTracerProvider(t.Provider), otelhttp.WithPropagators(t.Propagator))
}

type requestIDTransport struct {
	next       http.RoundTripper
	propagator propagation.TextMapPropagator // nil: otelhttp propagates
}

func (t requestIDTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	id := reqid.From(r.Context())
	traced := t.propagator != nil && trace.SpanContextFromContext(r.Context()).IsValid()
	if id == "" && !traced {
		return t.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	if id != "" {
		r.Header.Set(reqid.Header, id)
	}
	if traced {
		t.propagator.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	}
	return t.next.RoundTrip(r)
}

// readinessProbeToken is introspected to check this service's
// credentials: the authorization server must authenticate us before it
// answers {"active":false} for it.
const readinessProbeToken = "readiness-probe-not-a-token"

// CheckCredentials checks that the authorization server answers and
// accepts this service's client credentials.
func (c *IntrospectionClient) CheckCredentials(ctx context.Context) error {
	in, err := c.Introspect(ctx, readinessProbeToken)
	if err != nil {
		return err
	}
	if in.Active {
		return errors.New("the authorization server called the readiness probe token active")
	}
	return nil
}

// MaxReadinessAge bounds how long a readiness result is reused, so that a
// change shows within it.
const MaxReadinessAge = 4 * time.Second

// CachedCheck runs check at most once per MaxReadinessAge, so that
// frequent probes do not each cost a call to the authorization server.
func CachedCheck(check func(context.Context) error, now func() time.Time) func(context.Context) error {
	if now == nil {
		now = time.Now
	}
	var (
		mu   sync.Mutex
		at   time.Time
		last error
		done bool
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if done && now().Sub(at) < MaxReadinessAge {
			return last
		}
		last, at, done = check(ctx), now(), true
		return last
	}
}
