package resource

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/authsvc/internal/obs"
)

// Metrics are the resource service's metrics: its HTTP requests, the
// introspection cache and the calls to the authorization server. One value
// is made by cmd/resource and handed to the server, the cache and the
// instrumented introspector. A nil *Metrics counts nothing.
type Metrics struct {
	http          *obs.HTTPMetrics
	cacheRequests *prometheus.CounterVec
	duration      prometheus.Histogram
	errors        prometheus.Counter
	dpopRefused   *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	ns := obs.Namespace
	m := &Metrics{
		http: obs.NewHTTPMetrics(reg),
		cacheRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "introspection_cache_requests_total",
			Help: "Token checks answered from the introspection cache (hit) or not (miss)."}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "introspection_duration_seconds",
			Help:    "Duration of introspection calls to the authorization server.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "introspection_errors_total",
			Help: "Introspection calls that got no usable answer (the request was answered 503)."}),
		dpopRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "resource_dpop_refused_total",
			Help: "Requests refused for DPoP: a bound token used as a bearer token (bearer_use), a bearer token under the DPoP scheme (unbound), or the proof's reason (missing, malformed, typ, alg, jwk, signature, claims, htm, htu, iat, ath, jkt, replay, ...)."},
			[]string{"reason"}),
	}
	m.cacheRequests.WithLabelValues("hit")
	m.cacheRequests.WithLabelValues("miss")
	if reg != nil {
		reg.MustRegister(m.cacheRequests, m.duration, m.errors, m.dpopRefused)
	}
	return m
}

func (m *Metrics) dpopRefusal(reason string) {
	if m == nil || reason == "" {
		return
	}
	m.dpopRefused.WithLabelValues(reason).Inc()
}

func (m *Metrics) cacheResult(hit bool) {
	if m == nil {
		return
	}
	result := "miss"
	if hit {
		result = "hit"
	}
	m.cacheRequests.WithLabelValues(result).Inc()
}

func (m *Metrics) observeHTTP(handler string, code int, d time.Duration) {
	if m != nil {
		m.http.Observe(handler, code, d)
	}
}

// Instrument times every call of next and counts its failures. Put it
// between the Cache and the IntrospectionClient, so only real calls count.
func (m *Metrics) Instrument(next Introspector) Introspector {
	if m == nil {
		return next
	}
	return instrumented{next: next, m: m}
}

type instrumented struct {
	next Introspector
	m    *Metrics
}

func (i instrumented) Introspect(ctx context.Context, token string) (Introspection, error) {
	start := time.Now()
	in, err := i.next.Introspect(ctx, token)
	i.m.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		i.m.errors.Inc()
	}
	return in, err
}
