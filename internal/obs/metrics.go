package obs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/example/authsvc/internal/version"
)

// Namespace prefixes every metric of both services.
const Namespace = "authsvc"

// UnknownHandler is the handler label of a request that matched no route:
// raw paths never become label values.
const UnknownHandler = "unknown"

// NewRegistry returns a registry with the Go runtime and process
// collectors and authsvc_build_info. main builds it and passes it in; no
// global registry is used.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	info := version.Get()
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "The build of this binary; always 1.",
	}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(info.Version, info.Revision, info.GoVersion).Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
	)
	return reg
}

// HTTPMetrics are the request count and latency of one service, by route
// pattern.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTPMetrics registers the HTTP metrics with reg; a nil reg leaves
// them unregistered (they still count, nobody scrapes them).
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"handler"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration)
	}
	return m
}

// Observe records one request. handler must be a route pattern (bounded)
// or "" for an unknown path.
func (m *HTTPMetrics) Observe(handler string, code int, d time.Duration) {
	if handler == "" {
		handler = UnknownHandler
	}
	m.requests.WithLabelValues(handler, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(handler).Observe(d.Seconds())
}

// MetricsOff reports whether a metrics listen address turns the listener
// off: "" or "off".
func MetricsOff(addr string) bool { return addr == "" || addr == "off" }

// ServeMetrics serves reg at /metrics on addr until ctx ends; MetricsOff
// addresses disable it and return nil, nil. With pprof it also serves the
// Go profiler under /debug/pprof/ on the same listener, never on the
// service's own: profiles show code paths and memory, so they stay where
// the metrics are. (Importing net/http/pprof also registers it on
// http.DefaultServeMux, which no server of ours serves.) It returns the
// bound address once listening; a failure to listen is the caller's start
// failure.
func ServeMetrics(ctx context.Context, logger *slog.Logger, addr string, reg *prometheus.Registry, pprof bool) (net.Addr, error) {
	if MetricsOff(addr) {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry: reg, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}))
	if pprof {
		mux.HandleFunc("GET /debug/pprof/", httppprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", httppprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", httppprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: ErrorLog(logger)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics listener stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	logger.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics", "pprof", pprof)
	return ln.Addr(), nil
}

// NewBoolGauge is a gauge of 1 while f reports true and 0 otherwise.
func NewBoolGauge(opts prometheus.GaugeOpts, f func() bool) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(opts, func() float64 {
		if f() {
			return 1
		}
		return 0
	})
}
