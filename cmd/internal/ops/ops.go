// Package ops holds the operations settings both services share (log
// format and level, metrics listener, CORS origins, TLS) and the wiring
// they need: the logger, the registry with the store's pool statistics,
// tracing and the TLS configuration.
package ops

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/example/authsvc/cmd/internal/cliconf"
	"github.com/example/authsvc/internal/obs"
)

// Settings are the operations settings of one service.
type Settings struct {
	LogFormat   string
	LogLevel    slog.Level
	MetricsAddr string // "" or "off": no metrics listener
	Pprof       bool   // serve /debug/pprof/ on the metrics listener
	CORSOrigins string // comma-separated
	TLSCert     string
	TLSKey      string
}

// AddFlags defines the settings' flags; envPrefix names their environment
// variables in the usage text.
func AddFlags(fs *flag.FlagSet, s *Settings, envPrefix, metricsAddr string) {
	fs.StringVar(&s.LogFormat, "log-format", obs.FormatText, "text or json ("+envPrefix+"LOG_FORMAT)")
	fs.TextVar(&s.LogLevel, "log-level", slog.LevelInfo, "debug, info, warn or error ("+envPrefix+"LOG_LEVEL)")
	// Empty turns the listener off from the environment too, as from a
	// flag or the config file.
	cliconf.EmptyStringVar(fs, &s.MetricsAddr, "metrics-addr", metricsAddr,
		"listen `address` of the Prometheus /metrics listener; empty or off disables it ("+envPrefix+"METRICS_ADDR, also when set to \"\")")
	fs.BoolVar(&s.Pprof, "pprof", false,
		"also serve the Go profiler at /debug/pprof/ on the metrics listener ("+envPrefix+"PPROF)")
	fs.StringVar(&s.CORSOrigins, "cors-origins", "", "comma-separated origins browser clients may call from ("+envPrefix+"CORS_ORIGINS)")
	fs.StringVar(&s.TLSCert, "tls-cert", "", "PEM certificate file; serve HTTPS with -tls-key ("+envPrefix+"TLS_CERT)")
	fs.StringVar(&s.TLSKey, "tls-key", "", "PEM private key file of -tls-cert ("+envPrefix+"TLS_KEY)")
}

// Validate reports every problem at once.
func (s Settings) Validate() error {
	var errs []error
	if s.LogFormat != obs.FormatText && s.LogFormat != obs.FormatJSON {
		errs = append(errs, fmt.Errorf("log format %q: want text or json", s.LogFormat))
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		errs = append(errs, errors.New("TLS needs both a certificate and a key file, or neither"))
	}
	if s.Pprof && obs.MetricsOff(s.MetricsAddr) {
		errs = append(errs, errors.New("pprof is served on the metrics listener, which is off"))
	}
	for _, o := range s.Origins() {
		if u, err := url.Parse(o); o != "*" && (err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/")) {
			errs = append(errs, fmt.Errorf("CORS origin %q: want scheme://host[:port]", o))
		}
	}
	return errors.Join(errs...)
}

// Origins is the CORS origin list.
func (s Settings) Origins() []string {
	var out []string
	for _, o := range strings.Split(s.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, strings.TrimSuffix(o, "/"))
		}
	}
	return out
}

// Logger is the service's logger on stderr, through an obs.AsyncWriter so
// that no request waits on the log (the access log writes a line for every
// request). Call flush before returning: it writes what is waiting.
func (s Settings) Logger(stderr io.Writer, service string) (logger *slog.Logger, flush func() error, err error) {
	out := obs.NewAsyncWriter(stderr, obs.DefaultLogBuffer)
	logger, err = obs.NewLogger(out, s.LogFormat, service, s.LogLevel)
	if err != nil {
		out.Close()
		return nil, nil, err
	}
	return logger, out.Close, nil
}

// TLSConfig loads the certificate now, so that a bad file is a start
// failure rather than a serve error; nil when TLS is off.
func (s Settings) TLSConfig() (*tls.Config, error) {
	if s.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Scheme is https with TLS, http without.
func (s Settings) Scheme() string {
	if s.TLSCert != "" {
		return "https"
	}
	return "http"
}

// Loopback reports whether host (a URL's host, with or without port)
// names this machine only.
func Loopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
