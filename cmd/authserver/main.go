// Command authserver is the OAuth2 authorization server: password,
// client-credentials and refresh-token grants, RFC 7662 introspection,
// RFC 7009 revocation and RFC 8414 metadata.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/example/authsvc/authserver"
	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/cmd/internal/cliconf"
	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/cmd/internal/ops"
	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/internal/revocation"
	"github.com/example/authsvc/internal/version"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/cached"
	"github.com/example/authsvc/store/postgres"
)

func main() { cliconf.Main("authserver", run) }

// envKEK holds the key-encryption key itself; it is read from the
// environment only, never a flag or a config file.
const envKEK = "AUTH_KEY_ENCRYPTION_KEY"

// config is every setting of the server.
type config struct {
	addr, db, issuer, bootstrap string
	accessTTL, refreshTTL       time.Duration
	grantMaxAge                 time.Duration
	bcryptCost                  int
	lockout                     store.LoginPolicy
	cleanupInterval             time.Duration
	ops                         ops.Settings
	admin                       adminSettings
	// Abuse resistance of the login path.
	passwordConcurrency, passwordQueue int
	passwordQueueTimeout               time.Duration
	throttleBurst                      int
	throttlePerMinute                  float64
	trustedProxies                     string
	autoMigrate                        bool
	// Browser and device login.
	sessionTTL, consentTTL, deviceCodeTTL, devicePollInterval time.Duration
	// Self-contained and bound tokens.
	kek, kekFile, signingAlg, defaultAudience string
	jwtAccessTTL, keyReloadInterval           time.Duration
	// Introspection from memory.
	cacheEntries        int
	cacheBytes          int64
	revocationHeartbeat time.Duration
}

// Validate reports every problem at once. The token lifetimes, bcrypt cost
// and lockout policy are checked by authserver.Config.Validate.
func (c config) Validate() error {
	var problems []error
	if c.grantMaxAge <= 0 {
		// authserver.Config reads zero as its default: refuse it here,
		// where it can only be a mistake.
		problems = append(problems, fmt.Errorf("grant maximum age %v: must be positive", c.grantMaxAge))
	}
	if c.cleanupInterval <= 0 {
		problems = append(problems, fmt.Errorf("cleanup interval %v: must be positive", c.cleanupInterval))
	}
	problems = append(problems, c.admin.validate(c.ops.TLSCert != ""))
	if err := keys.ValidateAlgorithm(c.signingAlg); err != nil {
		problems = append(problems, err)
	}
	if c.keyReloadInterval < time.Second {
		problems = append(problems, fmt.Errorf("key reload interval %v: must be at least a second", c.keyReloadInterval))
	}
	if c.cacheEntries < 0 {
		problems = append(problems, fmt.Errorf("introspection cache entries %d: must be 0 (off) or more", c.cacheEntries))
	}
	if c.revocationHeartbeat < 100*time.Millisecond {
		problems = append(problems, fmt.Errorf("revocation heartbeat %v: must be at least 100ms", c.revocationHeartbeat))
	}
	if c.cacheBytes < 1<<20 {
		problems = append(problems, fmt.Errorf("introspection cache bytes %d: must be at least 1 MiB", c.cacheBytes))
	}
	problems = append(problems, c.ops.Validate())
	return errors.Join(problems...)
}

// parseConfig reads flags, environment and config file; args starts with
// the program name. A -h answers flag.ErrHelp after printing the usage.
func parseConfig(args []string, lookupenv cliconf.LookupEnv, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("authserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", ":9096", "listen address (AUTH_ADDR)")
	fs.StringVar(&c.db, "db", "sqlite:data/auth.db", "store: sqlite:PATH or postgres://... (AUTH_DB)")
	fs.BoolVar(&c.autoMigrate, "auto-migrate", true, "apply pending schema migrations on start; false refuses an old schema (AUTH_AUTO_MIGRATE)")
	fs.StringVar(&c.issuer, "issuer", "http://localhost:9096", "issuer URL, as clients reach it (AUTH_ISSUER)")
	fs.String(cliconf.ConfigFlag, "", "optional YAML file of these settings (AUTH_CONFIG)")
	fs.StringVar(&c.bootstrap, "bootstrap", "", "optional YAML of users and clients to create if absent (AUTH_BOOTSTRAP)")
	cliconf.DurationVar(fs, &c.accessTTL, "access-ttl", 15*time.Minute, "access token lifetime (AUTH_ACCESS_TTL)")
	cliconf.DurationVar(fs, &c.refreshTTL, "refresh-ttl", 720*time.Hour, "refresh token lifetime, renewed on rotation (AUTH_REFRESH_TTL)")
	cliconf.DurationVar(fs, &c.grantMaxAge, "grant-max-age", authserver.DefaultGrantMaxAge,
		"longest a grant lives from its login, however often refreshed (AUTH_GRANT_MAX_AGE)")
	fs.IntVar(&c.bcryptCost, "bcrypt-cost", 12, "bcrypt cost for passwords; below 10 only for tests (AUTH_BCRYPT_COST)")
	fs.IntVar(&c.lockout.Threshold, "lockout-threshold", 5, "consecutive failed logins that lock a username (AUTH_LOCKOUT_THRESHOLD)")
	cliconf.DurationVar(fs, &c.lockout.Lockout, "lockout-duration", time.Minute, "first lockout; doubles on each repeated lockout (AUTH_LOCKOUT_DURATION)")
	cliconf.DurationVar(fs, &c.lockout.MaxLockout, "lockout-max", time.Hour, "cap on the lockout duration (AUTH_LOCKOUT_MAX)")
	cliconf.DurationVar(fs, &c.cleanupInterval, "cleanup-interval", 5*time.Minute, "how often expired tokens are deleted (AUTH_CLEANUP_INTERVAL)")
	ops.AddFlags(fs, &c.ops, "AUTH_", "127.0.0.1:9097")
	c.admin.addFlags(fs)
	fs.IntVar(&c.passwordConcurrency, "password-concurrency", authserver.DefaultPasswordConcurrency(),
		"bcrypt comparisons at once; default half the CPUs (AUTH_PASSWORD_CONCURRENCY)")
	fs.IntVar(&c.passwordQueue, "password-queue", authserver.DefaultPasswordQueue, "password checks that may wait for a slot (AUTH_PASSWORD_QUEUE)")
	cliconf.DurationVar(fs, &c.passwordQueueTimeout, "password-queue-timeout", authserver.DefaultPasswordQueueTimeout,
		"longest wait for a password-check slot before 503 (AUTH_PASSWORD_QUEUE_TIMEOUT)")
	fs.IntVar(&c.throttleBurst, "throttle-burst", authserver.DefaultThrottleBurst, "failures a source address may make at once (AUTH_THROTTLE_BURST)")
	fs.Float64Var(&c.throttlePerMinute, "throttle-per-minute", authserver.DefaultThrottlePerMinute,
		"failures a source address earns back per minute (AUTH_THROTTLE_PER_MINUTE)")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", "",
		"comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed (AUTH_TRUSTED_PROXIES)")
	cliconf.DurationVar(fs, &c.sessionTTL, "session-ttl", authserver.DefaultSessionTTL,
		"life of a sign-in at the login page, the session cookie (AUTH_SESSION_TTL)")
	cliconf.DurationVar(fs, &c.consentTTL, "consent-ttl", authserver.DefaultConsentTTL,
		"how long a user's consent to a client is remembered (AUTH_CONSENT_TTL)")
	cliconf.DurationVar(fs, &c.deviceCodeTTL, "device-code-ttl", authserver.DefaultDeviceCodeTTL,
		"life of a device authorization, RFC 8628 expires_in (AUTH_DEVICE_CODE_TTL)")
	cliconf.DurationVar(fs, &c.devicePollInterval, "device-poll-interval", authserver.DefaultDevicePollInterval,
		"least time between two device polls, RFC 8628 interval (AUTH_DEVICE_POLL_INTERVAL)")
	fs.StringVar(&c.kekFile, "key-encryption-key-file", "",
		"file holding the key-encryption key, base64 of 32 random bytes that seal the JWT signing keys at rest; or the key itself in "+envKEK+" (never a flag); without either no JWT access token is issued (AUTH_KEY_ENCRYPTION_KEY_FILE)")
	fs.StringVar(&c.signingAlg, "signing-alg", keys.ES256, "algorithm of the first signing key: ES256 or EdDSA (AUTH_SIGNING_ALG)")
	cliconf.DurationVar(fs, &c.jwtAccessTTL, "jwt-access-ttl", authserver.DefaultJWTAccessTTL,
		"lifetime of JWT access tokens; a resource checking them locally sees a revocation only at expiry (AUTH_JWT_ACCESS_TTL)")
	fs.StringVar(&c.defaultAudience, "default-audience", authserver.DefaultAudience,
		"aud of tokens whose request names no resource (RFC 8707) (AUTH_DEFAULT_AUDIENCE)")
	cliconf.DurationVar(fs, &c.keyReloadInterval, "key-reload-interval", 10*time.Second,
		"how often the signing keys are read again, to pick up rotations (AUTH_KEY_RELOAD_INTERVAL)")
	fs.IntVar(&c.cacheEntries, "introspection-cache-entries", cached.DefaultMaxEntries,
		"live tokens whose introspection is answered from memory; 0 turns the cache off (AUTH_INTROSPECTION_CACHE_ENTRIES)")
	fs.Int64Var(&c.cacheBytes, "introspection-cache-bytes", cached.DefaultMaxBytes,
		"bound on the memory of that cache, in bytes (AUTH_INTROSPECTION_CACHE_BYTES)")
	cliconf.DurationVar(fs, &c.revocationHeartbeat, "revocation-heartbeat", revocation.DefaultHeartbeat,
		"idle interval of the revocation stream at GET /revocations; a subscriber counts it gone after three (AUTH_REVOCATION_HEARTBEAT)")
	if err := cliconf.Parse(fs, args[1:], lookupenv, "AUTH_"); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// A secret is never a flag (it would show in ps): the environment only.
	c.kek = lookupenv.Getenv(envKEK)
	return c, c.Validate()
}

// run starts the server and blocks until ctx ends, then shuts down
// gracefully. It prints "listening on http(s)://ADDR" to stdout once
// serving.
func run(ctx context.Context, args []string, lookupenv cliconf.LookupEnv, stdout, stderr io.Writer) error {
	c, err := parseConfig(args, lookupenv, stderr)
	if err != nil {
		return err
	}
	logger, flushLog, err := c.ops.Logger(stderr, "authserver")
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer flushLog()
	if u, err := url.Parse(c.issuer); err == nil && u.Scheme == "http" && !ops.Loopback(u.Host) {
		logger.Warn("the issuer is http:// on a non-loopback host: tokens and secrets would cross the network in clear; serve TLS (AUTH_TLS_CERT) or put a TLS-terminating proxy in front and set an https issuer",
			"issuer", c.issuer)
	}
	if c.bcryptCost < store.MinBcryptCost {
		logger.Warn("INSECURE: bcrypt cost below 10 makes stolen password hashes cheap to crack; use only for tests",
			"bcrypt_cost", c.bcryptCost)
	}

	proxies, err := authserver.ParseTrustedProxies(c.trustedProxies)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cfg := authserver.Config{
		Issuer:               c.issuer,
		AccessTTL:            c.accessTTL,
		RefreshTTL:           c.refreshTTL,
		GrantMaxAge:          c.grantMaxAge,
		BcryptCost:           c.bcryptCost,
		Lockout:              c.lockout,
		PasswordConcurrency:  c.passwordConcurrency,
		PasswordQueue:        c.passwordQueue,
		PasswordQueueTimeout: c.passwordQueueTimeout,
		ThrottleBurst:        c.throttleBurst,
		ThrottlePerMinute:    c.throttlePerMinute,
		TrustedProxies:       proxies,
		CORSOrigins:          c.ops.Origins(),
		SessionTTL:           c.sessionTTL,
		ConsentTTL:           c.consentTTL,
		DeviceCodeTTL:        c.deviceCodeTTL,
		DevicePollInterval:   c.devicePollInterval,
		ServesTLS:            c.ops.TLSCert != "",
		JWTAccessTTL:         c.jwtAccessTTL,
		DefaultAudience:      c.defaultAudience,
	}
	// Refuse a bad configuration before touching the database.
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}

	st, err := dbopen.OpenAuth(ctx, c.db, dbopen.AutoMigrate(c.autoMigrate)...)
	if err != nil {
		return err
	}
	defer st.Close()
	// While it runs, the server owns an SQLite database: authctl's direct
	// writes are refused and pointed at the admin API.
	releaseLock, err := dbopen.HoldServerLock(ctx, c.db, 5*time.Second)
	if err != nil {
		return err
	}
	defer releaseLock()

	if c.bootstrap != "" {
		if err := bootstrap(ctx, logger, st, c.bootstrap, c.bcryptCost); err != nil {
			return err
		}
	}

	warnOtherCosts(ctx, logger, st, c.bcryptCost)

	kek, err := keys.LoadKEK(c.kek, c.kekFile)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if kek == nil {
		logger.Warn("no key-encryption key (AUTH_KEY_ENCRYPTION_KEY): clients of JWT access tokens get none until one is set")
	}
	ring := keys.NewRing(st, kek, c.issuer, logger, time.Now)
	if err := ring.Ensure(ctx, c.signingAlg); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	cfg.Keys = ring

	reg := obs.NewRegistry()
	if pc := dbopen.PoolCollector(st, "auth"); pc != nil {
		reg.MustRegister(pc)
	}
	tracing, err := obs.NewTracing(ctx, "authserver", lookupenv.Getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer shutdownTracing(logger, tracing)
	cfg.Metrics, cfg.Tracing = reg, tracing
	tlsConfig, err := c.ops.TLSConfig()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}

	var traced store.AuthStore = st
	if tracing.Enabled() {
		traced = dbopen.TraceAuth(st, tracing.Provider)
	}
	// Everything in this process that changes the store goes through
	// served, so that the cache hears of it before the change is
	// acknowledged.
	hub := revocation.NewHub(0, 0)
	served := introspectionCache(c, traced, hub)
	cfg.Revocations, cfg.RevocationHeartbeat = hub, c.revocationHeartbeat
	reg.MustRegister(cacheCollectors(served)...)
	handler, err := authserver.NewServer(logger, served, cfg)
	if err != nil {
		return err
	}

	metricsCtx, stopMetrics := context.WithCancel(ctx)
	defer stopMetrics()
	if _, err := obs.ServeMetrics(metricsCtx, logger, c.ops.MetricsAddr, reg, c.ops.Pprof); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := newHTTPServer(logger, tlsConfig, handler)
	// The revocation streams never go idle: end them when shutting down.
	srv.RegisterOnShutdown(hub.Close)

	// The cleanup loop must be finished before the deferred st.Close runs.
	cleanupCtx, stopCleanup := context.WithCancel(ctx)
	var cleanup sync.WaitGroup
	cleanup.Go(func() { authserver.RunCleanup(cleanupCtx, logger, st, c.cleanupInterval, 1000, time.Now) })
	cleanup.Go(func() { ring.Run(cleanupCtx, c.keyReloadInterval) })
	if l, ok := st.(listener); ok {
		cleanup.Go(func() { l.Listen(cleanupCtx, logger, served, postgres.ListenConfig{}) })
	} else {
		// One node owns the embedded database: every change is made
		// through served.
		served.SetCurrent(true)
	}
	defer cleanup.Wait()
	defer stopCleanup()

	adminSrv, adminLn, err := newAdminServer(logger, c, served, kek, tlsConfig)
	if err != nil {
		ln.Close()
		return err
	}

	serveErr := make(chan error, 2)
	go func() {
		if tlsConfig != nil {
			serveErr <- srv.ServeTLS(ln, "", "")
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	if adminSrv != nil {
		go func() {
			if adminSrv.TLSConfig != nil {
				serveErr <- fmt.Errorf("admin API: %w", adminSrv.ServeTLS(adminLn, "", ""))
				return
			}
			serveErr <- fmt.Errorf("admin API: %w", adminSrv.Serve(adminLn))
		}()
		logger.Info("admin API listening", "addr", adminLn.Addr().String(), "client_certificates", c.admin.clientCA != "")
	}
	logger.Info("authserver listening", "addr", ln.Addr().String(), "issuer", c.issuer, "tls", tlsConfig != nil,
		"tracing", tracing.Enabled(), "version", version.Get().Version)
	fmt.Fprintf(stdout, "listening on %s://%s\n", c.ops.Scheme(), ln.Addr())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if adminSrv != nil {
		if err := adminSrv.Shutdown(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown admin API: %w", err))
		}
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
	}
	return errors.Join(errs...)
}

func bootstrap(ctx context.Context, logger *slog.Logger, st store.AuthStore, path string, cost int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	defer f.Close()
	svc, err := admin.New(st, logger, cost)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return svc.Bootstrap(ctx, f)
}

// warnOtherCosts: the dummy comparison for unknown usernames runs at the
// configured cost, so a user whose hash has another cost can be told apart
// by timing until their next login rehashes it.
func warnOtherCosts(ctx context.Context, logger *slog.Logger, st store.Users, cost int) {
	users, err := st.ListUsers(ctx)
	if err != nil {
		logger.Warn("could not check password hash costs", "err", err)
		return
	}
	n := 0
	for _, u := range users {
		if u.NeedsRehash(cost) {
			n++
		}
	}
	if n > 0 {
		logger.Warn("some password hashes use another bcrypt cost; they are rehashed at their next login, and until then login timing can tell these users from unknown names",
			"users", n, "bcrypt_cost", cost)
	}
}

// shutdownTracing flushes the spans still buffered.
func shutdownTracing(logger *slog.Logger, t obs.Tracing) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		logger.Warn("flush traces", "err", err)
	}
}

// newHTTPServer is an http.Server with the timeouts and bounds both of the
// server's listeners (the service and the admin API) use.
func newHTTPServer(logger *slog.Logger, tlsConfig *tls.Config, handler http.Handler) *http.Server {
	return &http.Server{
		TLSConfig:         tlsConfig,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          obs.ErrorLog(logger),
	}
}
