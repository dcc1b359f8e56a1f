// Command resource runs the protected resource service: per-owner items
// behind access tokens that the authorization server vouches for through
// RFC 7662 introspection, or that it checks locally as RFC 9068 JWTs
// (RESOURCE_TOKEN_VALIDATION=jwt); DPoP-bound tokens (RFC 9449) need a
// proof by their key.
//
// Settings come from flags, then RESOURCE_* environment variables, then the
// optional -config YAML file, then defaults. The introspection client's
// secret is never a flag (it would show in ps): it comes from
// RESOURCE_CLIENT_SECRET or the file named by RESOURCE_CLIENT_SECRET_FILE.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/authsvc/authserver/dpop"
	"github.com/example/authsvc/cmd/internal/cliconf"
	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/cmd/internal/ops"
	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/internal/version"
	"github.com/example/authsvc/resource"
	"github.com/example/authsvc/resource/jwtaccess"
	"github.com/example/authsvc/store/cached"
)

const envPrefix = "RESOURCE_"

// Environment variables read directly rather than through a flag.
const (
	envClientSecret     = envPrefix + "CLIENT_SECRET"
	envClientSecretFile = envPrefix + "CLIENT_SECRET_FILE"
)

// shutdownTimeout bounds how long in-flight requests may finish after a
// signal.
const shutdownTimeout = 10 * time.Second

func main() { cliconf.Main("resource", run) }

// config is every setting of the service.
type config struct {
	Addr              string
	DB                string
	IntrospectURL     string
	ClientID          string
	ClientSecret      string
	CacheTTL          time.Duration
	IntrospectTimeout time.Duration
	MaxItemsPerOwner  int
	ItemCacheBytes    int64
	AutoMigrate       bool
	Ops               ops.Settings
	// Token validation: introspect (default) or jwt, and what jwt mode
	// and DPoP need.
	TokenValidation string
	JWKSURL         string
	Issuer          string
	Audience        string
	PublicURL       string
	// RevocationsURL is the authorization server's revocation stream
	// (introspect mode): "auto" derives it from IntrospectURL, "off"
	// turns it off.
	RevocationsURL string
}

// absoluteURL reports whether s is an absolute http(s) URL without
// userinfo.
func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// Validate reports every problem at once.
func (c config) Validate() error {
	var problems []error
	if c.Addr == "" {
		problems = append(problems, errors.New("-addr (RESOURCE_ADDR) is empty"))
	}
	if c.DB == "" {
		problems = append(problems, errors.New("-db (RESOURCE_DB) is empty"))
	}
	switch c.TokenValidation {
	case resource.ValidateIntrospect:
		// Never echo the URL: userinfo in it would be a password.
		if !absoluteURL(c.IntrospectURL) {
			problems = append(problems, errors.New("-introspect-url (RESOURCE_INTROSPECT_URL) is not an absolute http(s) URL without userinfo (credentials go in the client id and secret)"))
		}
		if c.ClientID == "" {
			problems = append(problems, errors.New("no client id: set -client-id or RESOURCE_CLIENT_ID to this service's client at the authorization server"))
		}
		if c.ClientSecret == "" {
			problems = append(problems, fmt.Errorf("no client secret: set %s or %s (a file holding the secret)", envClientSecret, envClientSecretFile))
		}
	case resource.ValidateJWT:
		if !absoluteURL(c.JWKSURL) {
			problems = append(problems, errors.New("-jwks-url (RESOURCE_JWKS_URL) is not an absolute http(s) URL without userinfo"))
		}
		if c.Issuer == "" {
			problems = append(problems, errors.New("-issuer (RESOURCE_ISSUER) is empty: jwt mode checks iss"))
		}
	default:
		problems = append(problems, fmt.Errorf("-token-validation (RESOURCE_TOKEN_VALIDATION) %q: want %s or %s",
			c.TokenValidation, resource.ValidateIntrospect, resource.ValidateJWT))
	}
	if c.RevocationsURL != "auto" && c.RevocationsURL != "off" && !absoluteURL(c.RevocationsURL) {
		problems = append(problems, errors.New("-revocations-url (RESOURCE_REVOCATIONS_URL) is not auto, off or an absolute http(s) URL without userinfo"))
	}
	if c.Audience == "" {
		problems = append(problems, errors.New("-audience (RESOURCE_AUDIENCE) is empty"))
	}
	if c.PublicURL != "" && !absoluteURL(c.PublicURL) {
		problems = append(problems, errors.New("-public-url (RESOURCE_PUBLIC_URL) is not an absolute http(s) URL"))
	}
	if c.CacheTTL < 0 {
		problems = append(problems, fmt.Errorf("-cache-ttl (RESOURCE_CACHE_TTL) %s is negative; 0 disables the cache", c.CacheTTL))
	}
	if c.IntrospectTimeout <= 0 {
		problems = append(problems, fmt.Errorf("-introspect-timeout (RESOURCE_INTROSPECT_TIMEOUT) %s must be positive", c.IntrospectTimeout))
	}
	if c.MaxItemsPerOwner < 1 {
		problems = append(problems, fmt.Errorf("-max-items-per-owner (RESOURCE_MAX_ITEMS_PER_OWNER) %d must be at least 1", c.MaxItemsPerOwner))
	}
	if c.ItemCacheBytes != 0 && c.ItemCacheBytes < 1<<20 {
		problems = append(problems, fmt.Errorf("-item-cache-bytes (RESOURCE_ITEM_CACHE_BYTES) %d: must be 0 (off) or at least 1 MiB", c.ItemCacheBytes))
	}
	problems = append(problems, c.Ops.Validate())
	return errors.Join(problems...)
}

// parseConfig reads flags, environment and config file. A -h answers
// flag.ErrHelp after printing the usage.
func parseConfig(args []string, lookupenv cliconf.LookupEnv, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", ":8080", "listen address (RESOURCE_ADDR)")
	fs.StringVar(&cfg.DB, "db", "sqlite:data/items.db", "item store: sqlite:PATH or postgres://... (RESOURCE_DB)")
	fs.BoolVar(&cfg.AutoMigrate, "auto-migrate", true, "apply pending schema migrations on start; false refuses an old schema (RESOURCE_AUTO_MIGRATE)")
	fs.StringVar(&cfg.IntrospectURL, "introspect-url", "http://localhost:9096/introspect", "the authorization server's RFC 7662 endpoint (RESOURCE_INTROSPECT_URL)")
	fs.StringVar(&cfg.ClientID, "client-id", "", "this service's client id at the authorization server (RESOURCE_CLIENT_ID); the secret comes from "+envClientSecret+" or "+envClientSecretFile)
	cliconf.DurationVar(fs, &cfg.CacheTTL, "cache-ttl", resource.DefaultCacheTTL, "how long a positive introspection answer, or a JWT checked in jwt mode, is reused, 0 disables (RESOURCE_CACHE_TTL)")
	cliconf.DurationVar(fs, &cfg.IntrospectTimeout, "introspect-timeout", resource.DefaultIntrospectTimeout, "timeout of one introspection call (RESOURCE_INTROSPECT_TIMEOUT)")
	fs.IntVar(&cfg.MaxItemsPerOwner, "max-items-per-owner", resource.DefaultMaxItemsPerOwner, "how many items one owner may have; a create past it is a 409 (RESOURCE_MAX_ITEMS_PER_OWNER)")
	fs.Int64Var(&cfg.ItemCacheBytes, "item-cache-bytes", cached.DefaultItemsMaxBytes,
		"bound on the memory of the owners' first pages of items kept in memory, in bytes; 0 turns it off; SQLite only (RESOURCE_ITEM_CACHE_BYTES)")
	fs.StringVar(&cfg.TokenValidation, "token-validation", resource.ValidateIntrospect,
		"introspect: ask the authorization server about each token (revocation counts at once); jwt: check JWT access tokens locally with its keys (a revoked token works until it expires) (RESOURCE_TOKEN_VALIDATION)")
	fs.StringVar(&cfg.JWKSURL, "jwks-url", "http://localhost:9096/.well-known/jwks.json", "the authorization server's JWKS, for jwt mode (RESOURCE_JWKS_URL)")
	fs.StringVar(&cfg.Issuer, "issuer", "http://localhost:9096", "the iss JWT access tokens must carry, for jwt mode (RESOURCE_ISSUER)")
	fs.StringVar(&cfg.Audience, "audience", resource.DefaultAudience, "the aud tokens must name: this service's resource indicator (RESOURCE_AUDIENCE)")
	fs.StringVar(&cfg.PublicURL, "public-url", "",
		"this service's URL as clients call it (scheme, host, path prefix), which DPoP proofs name; default: as each request reached it (RESOURCE_PUBLIC_URL)")
	fs.StringVar(&cfg.RevocationsURL, "revocations-url", "auto",
		"the authorization server's revocation stream, which keeps cached answers exact (introspect mode): auto (beside -introspect-url), off, or a URL (RESOURCE_REVOCATIONS_URL)")
	ops.AddFlags(fs, &cfg.Ops, envPrefix, "127.0.0.1:9098")
	fs.String(cliconf.ConfigFlag, "", "optional YAML file of flag-name keys (RESOURCE_CONFIG)")
	if err := cliconf.Parse(fs, args[1:], lookupenv, envPrefix); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	secret, err := clientSecret(lookupenv.Getenv)
	if err != nil {
		return config{}, err
	}
	cfg.ClientSecret = secret
	if err := cfg.Validate(); err != nil {
		return config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// clientSecret reads the secret from the environment or from a file (a
// mounted secret, typically ending in a newline).
func clientSecret(getenv func(string) string) (string, error) {
	secret, file := getenv(envClientSecret), getenv(envClientSecretFile)
	switch {
	case secret != "" && file != "":
		return "", fmt.Errorf("set only one of %s and %s", envClientSecret, envClientSecretFile)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", envClientSecretFile, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	default:
		return secret, nil
	}
}

// tokenChecker builds what checks tokens in the configured mode, the
// readiness check that goes with it, and in introspect mode the
// subscription to the revocation stream (nil when off), which runs until
// its context ends.
func tokenChecker(cfg config, metrics *resource.Metrics, tracing obs.Tracing, logger *slog.Logger) (resource.Introspector, func(context.Context) error, func(context.Context), error) {
	if cfg.TokenValidation == resource.ValidateJWT {
		v, err := jwtaccess.NewVerifier(jwtaccess.Config{JWKSURL: cfg.JWKSURL, Issuer: cfg.Issuer, Audience: cfg.Audience})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("jwt mode: %w", err)
		}
		checker := resource.NewJWTChecker(v)
		// A token checked once is not checked again for the cache TTL
		// (and never past its exp): a repeated token costs no signature
		// check. Only positive answers are kept, as in introspect mode.
		cache := resource.NewCache(checker, resource.CacheConfig{TTL: cfg.CacheTTL, Metrics: metrics})
		return cache, checker.Ready, nil, nil
	}
	client, err := resource.NewIntrospectionClient(resource.IntrospectionClientConfig{
		URL:          cfg.IntrospectURL,
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Timeout:      cfg.IntrospectTimeout,
		Tracing:      tracing,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("introspection client: %w", err)
	}
	cache := resource.NewCache(metrics.Instrument(client), resource.CacheConfig{TTL: cfg.CacheTTL, Metrics: metrics})
	if cfg.RevocationsURL == "off" || cfg.CacheTTL == 0 {
		return cache, client.CheckCredentials, nil, nil
	}
	streamURL := cfg.RevocationsURL
	if streamURL == "auto" {
		if streamURL, err = resource.RevocationsURL(cfg.IntrospectURL); err != nil {
			return nil, nil, nil, err
		}
	}
	stream, err := client.RevocationStream(streamURL, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	run := func(ctx context.Context) {
		stream.Run(ctx, cache, func(err error, wasReady bool) {
			// Once per outage, not at every retry.
			if wasReady {
				logger.Warn("revocation stream lost: cached answers flushed, the cache TTL applies until it is back", "err", err)
			} else {
				logger.Debug("revocation stream unavailable", "err", err)
			}
		})
	}
	return cache, client.CheckCredentials, run, nil
}

// run serves until ctx ends (main cancels it on SIGINT or SIGTERM), then
// shuts down gracefully. A -h prints the usage and returns nil.
func run(ctx context.Context, args []string, lookupenv cliconf.LookupEnv, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, lookupenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	logger, flushLog, err := cfg.Ops.Logger(stderr, "resource")
	if err != nil {
		return err
	}
	defer flushLog()

	mode := lookupenv.Getenv("GIN_MODE")
	switch mode {
	case "":
		mode = gin.ReleaseMode
	case gin.DebugMode, gin.ReleaseMode, gin.TestMode:
	default:
		// gin.SetMode would panic on it.
		return fmt.Errorf("GIN_MODE %q: want %s, %s or %s", mode, gin.DebugMode, gin.ReleaseMode, gin.TestMode)
	}
	gin.SetMode(mode)
	// Gin prints nothing of its own (not even its debug route list): every
	// line on stderr is the logger's.
	gin.DefaultWriter, gin.DefaultErrorWriter = io.Discard, io.Discard

	items, err := dbopen.OpenItems(ctx, cfg.DB, dbopen.AutoMigrate(cfg.AutoMigrate)...)
	if err != nil {
		return fmt.Errorf("open item store: %w", err)
	}
	defer func() {
		if err := items.Close(); err != nil {
			logger.Error("close item store", "err", err)
		}
	}()

	// While it runs, the service owns an SQLite database: it is the only
	// writer of the items, and so may keep pages of them in memory.
	releaseLock, err := dbopen.HoldServerLock(ctx, cfg.DB, 5*time.Second)
	if err != nil {
		return err
	}
	defer releaseLock()

	reg := obs.NewRegistry()
	if pc := dbopen.PoolCollector(items, "items"); pc != nil {
		reg.MustRegister(pc)
	}
	items, itemCacheBytes := itemCache(cfg, items, reg, logger)
	metrics := resource.NewMetrics(reg)
	tracing, err := obs.NewTracing(ctx, "resource", lookupenv.Getenv)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(flushCtx); err != nil {
			logger.Warn("flush traces", "err", err)
		}
	}()
	tlsConfig, err := cfg.Ops.TLSConfig()
	if err != nil {
		return err
	}

	introspector, ready, stream, err := tokenChecker(cfg, metrics, tracing, logger)
	if err != nil {
		return err
	}
	if stream != nil {
		streamCtx, stopStream := context.WithCancel(ctx)
		var streaming sync.WaitGroup
		streaming.Go(func() { stream(streamCtx) })
		defer streaming.Wait()
		defer stopStream()
		if c, ok := introspector.(*resource.Cache); ok {
			reg.MustRegister(obs.NewBoolGauge(prometheus.GaugeOpts{
				Namespace: obs.Namespace, Name: "resource_revocation_stream_ready",
				Help: "1 while the revocation stream is connected and caught up (cached answers live until exp), 0 otherwise (the cache TTL applies).",
			}, c.Streaming))
		}
	}
	proofs, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		return fmt.Errorf("DPoP: %w", err)
	}
	var publicURL *url.URL
	if cfg.PublicURL != "" {
		if publicURL, err = url.Parse(cfg.PublicURL); err != nil {
			return fmt.Errorf("-public-url: %w", err)
		}
	}

	metricsCtx, stopMetrics := context.WithCancel(ctx)
	defer stopMetrics()
	if _, err := obs.ServeMetrics(metricsCtx, logger, cfg.Ops.MetricsAddr, reg, cfg.Ops.Pprof); err != nil {
		return err
	}
	handler := resource.NewServer(logger, items, introspector,
		resource.WithMetrics(metrics), resource.WithTracing(tracing), resource.WithCORS(cfg.Ops.Origins()),
		resource.WithReadiness(resource.CachedCheck(ready, nil)),
		resource.WithMaxItemsPerOwner(cfg.MaxItemsPerOwner),
		resource.WithAudience(cfg.Audience), resource.WithDPoP(proofs, publicURL))
	srv := &http.Server{
		TLSConfig:         tlsConfig,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          obs.ErrorLog(logger),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Tests start on :0 and read the address from this line.
	logger.Info("listening", "addr", ln.Addr().String(), "token_validation", cfg.TokenValidation, "audience", cfg.Audience, "introspect_url", cfg.IntrospectURL,
		"client_id", cfg.ClientID, "cache_ttl", cfg.CacheTTL, "introspect_timeout", cfg.IntrospectTimeout,
		"max_items_per_owner", cfg.MaxItemsPerOwner, "item_cache_bytes", itemCacheBytes, "revocation_stream", stream != nil, "tls", tlsConfig != nil, "tracing", tracing.Enabled(), "version", version.Get().Version)
	if cfg.TokenValidation == resource.ValidateJWT {
		logger.Info("jwt mode: access tokens are checked locally, so a revoked token keeps working here until it expires (5 minutes by default)",
			"jwks_url", cfg.JWKSURL, "issuer", cfg.Issuer)
	}
	if u, err := url.Parse(cfg.IntrospectURL); err == nil && u.Scheme == "http" && !ops.Loopback(u.Host) && cfg.TokenValidation == resource.ValidateIntrospect {
		logger.Warn("the introspection URL is http:// on a non-loopback host: every token and this service's secret cross the network in clear")
	}

	// Scripts wait for this line (scripts/run-local.sh), as for the
	// authorization server's.
	fmt.Fprintf(stdout, "listening on %s://%s\n", cfg.Ops.Scheme(), ln.Addr())

	serveErr := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			serveErr <- srv.ServeTLS(ln, "", "")
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down")
	// The run context is done; shutdown gets a fresh one.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}
