// Package authserver is the HTTP layer of the authorization server: the
// token endpoint (password, client_credentials, refresh_token,
// authorization_code and device_code grants), the authorization endpoint
// and its sign-in pages (authorize.go, session.go, device.go, pages.go),
// RFC 8628 device authorization, RFC 7662 introspection, RFC 7009
// revocation and RFC 8414 metadata.
//
// Tokens are issued by go-oauth2's manage.Manager, confined to
// internal/issuer; this package decides everything it gets wrong by
// default: clients are authenticated before any password is checked,
// secrets and tokens are compared and stored as hashes, refresh tokens are
// bound to their client, rotated atomically, narrowed but never widened,
// and their reuse revokes the grant. Each grant type is one file behind the
// grant interface (grants.go).
package authserver

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/internal/revocation"

	"github.com/example/authsvc/authserver/dpop"
	"github.com/example/authsvc/authserver/internal/issuer"
	"github.com/example/authsvc/authserver/keys"

	"github.com/example/authsvc/store"
)

// Config is the authorization server's behaviour. Zero values are not
// defaults: cmd/authserver fills them from flags and the environment.
type Config struct {
	Issuer     string        // RFC 8414 issuer, e.g. https://auth.example.com
	AccessTTL  time.Duration // access token lifetime
	RefreshTTL time.Duration // refresh token lifetime, renewed at each rotation
	// GrantMaxAge bounds a grant's life from its first token however often
	// it is refreshed (the refresh lifetime slides only within it); zero
	// means DefaultGrantMaxAge.
	GrantMaxAge time.Duration
	BcryptCost  int // cost of the dummy hash that equalizes unknown-user timing
	Lockout     store.LoginPolicy
	// Abuse resistance; for each of the five settings below, zero means
	// the default (DefaultPasswordConcurrency and the Default constants).
	//
	// Password checks: at most PasswordConcurrency bcrypt comparisons run
	// at once; at most PasswordQueue requests wait for one, each for at most
	// PasswordQueueTimeout, and the rest get 503.
	PasswordConcurrency  int
	PasswordQueue        int
	PasswordQueueTimeout time.Duration
	// Failures (client authentication, password checks) per source address
	// are throttled by a token bucket of ThrottleBurst, refilled at
	// ThrottlePerMinute; an empty bucket gets 429.
	ThrottleBurst     int
	ThrottlePerMinute float64
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the
	// source address; empty means the TCP peer is the source.
	TrustedProxies []netip.Prefix
	// Browser and device login; zero means the Default constants.
	// SessionTTL is the life of a login at the sign-in page (the session
	// cookie); ConsentTTL how long a consent is remembered; DeviceCodeTTL
	// the life of a device authorization and DevicePollInterval its least
	// polling interval (RFC 8628 §3.2).
	SessionTTL         time.Duration
	ConsentTTL         time.Duration
	DeviceCodeTTL      time.Duration
	DevicePollInterval time.Duration
	// ServesTLS: the server itself serves HTTPS (AUTH_TLS_CERT). With an
	// https issuer or TrustedProxies, it makes the sign-in cookies Secure
	// and __Host- prefixed.
	ServesTLS bool
	// Keys signs JWT access tokens and serves the JWKS; nil when none
	// (no JWT can be issued, and the JWKS is empty).
	Keys *keys.Ring
	// JWTAccessTTL is the lifetime of JWT access tokens (default
	// DefaultJWTAccessTTL): a resource that checks them locally sees a
	// revocation only when they expire.
	JWTAccessTTL time.Duration
	// DefaultAudience is the aud of tokens whose request names no
	// resource (RFC 8707); DefaultAudience by default.
	DefaultAudience string
	// DPoPAlgs are the JWS algorithms accepted in DPoP proofs (default
	// those of dpop.Config).
	DPoPAlgs []string
	// Revocations, when set, is served at GET /revocations: the stream of
	// revocation events resource services subscribe to (fed by the
	// introspection cache's invalidations); RevocationHeartbeat is its
	// idle interval (zero: revocation.DefaultHeartbeat).
	Revocations         *revocation.Hub
	RevocationHeartbeat time.Duration
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
	// Operations, all optional: the registry the metrics are registered
	// with (nil: counted, not exported), tracing (zero: off) and the
	// origins browser clients may call from (none: no CORS).
	Metrics     prometheus.Registerer
	Tracing     obs.Tracing
	CORSOrigins []string
}

// DefaultGrantMaxAge is the maximum grant age when Config leaves it zero:
// 90 days, the analogue of Keycloak's "SSO Session Max".
const DefaultGrantMaxAge = 2160 * time.Hour

// Defaults of self-contained tokens.
const (
	DefaultJWTAccessTTL = 5 * time.Minute
	// DefaultAudience is what the resource service expects by default
	// (RESOURCE_AUDIENCE).
	DefaultAudience = "urn:authsvc:items"
)

// Defaults of the abuse-resistance settings.
const (
	DefaultPasswordQueue        = 64
	DefaultPasswordQueueTimeout = 2 * time.Second
	DefaultThrottleBurst        = 20
	DefaultThrottlePerMinute    = 10
)

// Defaults of browser and device login.
const (
	DefaultSessionTTL         = 8 * time.Hour
	DefaultConsentTTL         = 90 * 24 * time.Hour
	DefaultDeviceCodeTTL      = 10 * time.Minute
	DefaultDevicePollInterval = 5 * time.Second
)

// withDefaults fills the zero abuse-resistance settings and grant age.
func (c Config) withDefaults() Config {
	if c.PasswordConcurrency == 0 {
		c.PasswordConcurrency = DefaultPasswordConcurrency()
	}
	if c.PasswordQueue == 0 {
		c.PasswordQueue = DefaultPasswordQueue
	}
	if c.PasswordQueueTimeout == 0 {
		c.PasswordQueueTimeout = DefaultPasswordQueueTimeout
	}
	if c.ThrottleBurst == 0 {
		c.ThrottleBurst = DefaultThrottleBurst
	}
	if c.ThrottlePerMinute == 0 {
		c.ThrottlePerMinute = DefaultThrottlePerMinute
	}
	if c.GrantMaxAge == 0 {
		c.GrantMaxAge = DefaultGrantMaxAge
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.ConsentTTL == 0 {
		c.ConsentTTL = DefaultConsentTTL
	}
	if c.DeviceCodeTTL == 0 {
		c.DeviceCodeTTL = DefaultDeviceCodeTTL
	}
	if c.DevicePollInterval == 0 {
		c.DevicePollInterval = DefaultDevicePollInterval
	}
	if c.JWTAccessTTL == 0 {
		c.JWTAccessTTL = DefaultJWTAccessTTL
	}
	if c.DefaultAudience == "" {
		c.DefaultAudience = DefaultAudience
	}
	return c
}

// DefaultPasswordConcurrency is half the CPUs Go may use, at least one:
// bcrypt is pure CPU, so this leaves the other half to every other endpoint
// however many guesses arrive.
func DefaultPasswordConcurrency() int {
	return max(1, runtime.GOMAXPROCS(0)/2)
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		// RFC 8414 §2: an https URL without query or fragment; http is
		// tolerated for local runs.
		errs = append(errs, fmt.Errorf("issuer %q: want an http(s) URL without query or fragment", c.Issuer))
	} else if strings.Trim(u.Path, "/") != "" {
		// RFC 8414 §3.1 would put the metadata at a path-specific
		// well-known URL, which this server does not serve.
		errs = append(errs, fmt.Errorf("issuer %q: must not have a path", c.Issuer))
	}
	// go-oauth2 treats a zero lifetime as "never expires": refuse it.
	if c.AccessTTL <= 0 {
		errs = append(errs, fmt.Errorf("access token lifetime %v: must be positive", c.AccessTTL))
	}
	if c.RefreshTTL <= 0 {
		errs = append(errs, fmt.Errorf("refresh token lifetime %v: must be positive", c.RefreshTTL))
	} else if c.AccessTTL > c.RefreshTTL {
		// A refresh token that dies before its access token is useless.
		errs = append(errs, fmt.Errorf("access token lifetime %v: must not exceed the refresh token lifetime %v", c.AccessTTL, c.RefreshTTL))
	}
	if c.GrantMaxAge < 0 {
		errs = append(errs, fmt.Errorf("grant maximum age %v: must be positive", c.GrantMaxAge))
	}
	if c.BcryptCost < bcrypt.MinCost || c.BcryptCost > bcrypt.MaxCost {
		errs = append(errs, fmt.Errorf("bcrypt cost %d: must be between %d and %d", c.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	if c.Lockout.Threshold < 1 {
		errs = append(errs, fmt.Errorf("lockout threshold %d: must be at least 1", c.Lockout.Threshold))
	}
	if c.Lockout.Lockout <= 0 {
		errs = append(errs, fmt.Errorf("lockout duration %v: must be positive", c.Lockout.Lockout))
	}
	if c.Lockout.MaxLockout < c.Lockout.Lockout {
		errs = append(errs, fmt.Errorf("maximum lockout %v: must be at least the lockout duration %v", c.Lockout.MaxLockout, c.Lockout.Lockout))
	}
	if c.PasswordConcurrency < 1 {
		errs = append(errs, fmt.Errorf("password concurrency %d: must be at least 1", c.PasswordConcurrency))
	}
	if c.PasswordQueue < 1 {
		errs = append(errs, fmt.Errorf("password queue %d: must be at least 1", c.PasswordQueue))
	}
	if c.PasswordQueueTimeout <= 0 {
		errs = append(errs, fmt.Errorf("password queue timeout %v: must be positive", c.PasswordQueueTimeout))
	}
	if c.ThrottleBurst < 1 {
		errs = append(errs, fmt.Errorf("throttle burst %d: must be at least 1", c.ThrottleBurst))
	}
	if !(c.ThrottlePerMinute > 0) || math.IsInf(c.ThrottlePerMinute, 0) {
		errs = append(errs, fmt.Errorf("throttle refill %v per minute: must be positive", c.ThrottlePerMinute))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"session lifetime", c.SessionTTL}, {"consent lifetime", c.ConsentTTL}, {"device code lifetime", c.DeviceCodeTTL}, {"device poll interval", c.DevicePollInterval}} {
		if d.v < time.Second {
			errs = append(errs, fmt.Errorf("%s %v: must be at least a second", d.name, d.v))
		}
	}
	if c.JWTAccessTTL < time.Second || c.JWTAccessTTL > store.MaxSignedTokenLifetime {
		errs = append(errs, fmt.Errorf("JWT access token lifetime %v: must be between a second and %v", c.JWTAccessTTL, store.MaxSignedTokenLifetime))
	}
	if err := store.ValidateResource(c.DefaultAudience); err != nil {
		errs = append(errs, fmt.Errorf("default audience: %w", err))
	}
	if _, err := newDPoPVerifier(c.DPoPAlgs, c.Now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// maxBodyBytes bounds every request body; OAuth requests are a few hundred bytes.
const maxBodyBytes = 64 << 10

// server holds what the handlers share.
type server struct {
	logger   *slog.Logger
	store    store.AuthStore
	cfg      Config
	now      func() time.Time
	issuer   *issuer.Issuer
	grants   map[string]grant
	render   renderer
	sources  sourceResolver
	throttle *throttle
	// deviceStarts limits device authorizations per source: each one is
	// a stored row that anyone may ask for, so a source gets the
	// failure throttle's burst and refill of them.
	deviceStarts *throttle
	pool         *passwordPool
	bcryptTime   *durationAverage
	metrics      *metrics
	metadata     metadataCache
	// secureCookies: the browser reaches the server over TLS (an https
	// issuer, or a trusted proxy in front), so cookies are Secure and
	// __Host- prefixed.
	secureCookies bool
	// dummyUser's password is compared against when the user does not
	// exist, so an unknown username costs the same bcrypt time as a wrong
	// password.
	dummyUser store.User
	// dpop checks DPoP proofs at the token endpoint, whose URL (the htu
	// proofs must name) is tokenURL.
	dpop     *dpop.Verifier
	tokenURL *url.URL
}

// NewServer validates cfg and returns the authorization server's handler.
// It spends one bcrypt hash at cfg.BcryptCost.
func NewServer(logger *slog.Logger, st store.AuthStore, cfg Config) (http.Handler, error) {
	s, err := newServer(logger, st, cfg)
	if err != nil {
		return nil, err
	}
	return s.routes(), nil
}

func newServer(logger *slog.Logger, st store.AuthStore, cfg Config) (*server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg = cfg.withDefaults()
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("no such user: equalize timing"), cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	// One comparison now, so that refusals which skip bcrypt (a locked
	// username) know from the first request how long one takes.
	start := time.Now()
	_ = bcrypt.CompareHashAndPassword(dummy, []byte("calibrate"))
	bcryptTime := newDurationAverage(time.Since(start))
	iss, err := issuer.New(st, cfg.AccessTTL, cfg.RefreshTTL, cfg.GrantMaxAge, now)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if cfg.Keys != nil {
		if err := iss.WithJWT(cfg.Keys, cfg.JWTAccessTTL); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	proofs, err := newDPoPVerifier(cfg.DPoPAlgs, now)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	m := newMetrics(cfg.Metrics)
	s := &server{
		metrics:      m,
		logger:       logger,
		store:        st,
		cfg:          cfg,
		now:          now,
		issuer:       iss,
		render:       renderer{logger: logger, realm: realmFor(cfg.Issuer), throttled: m.throttled},
		dummyUser:    store.User{PasswordHash: dummy},
		sources:      sourceResolver{trusted: cfg.TrustedProxies},
		throttle:     newThrottle(cfg.ThrottleBurst, cfg.ThrottlePerMinute, now),
		deviceStarts: newThrottle(cfg.ThrottleBurst, cfg.ThrottlePerMinute, now),
		pool:         newPasswordPool(cfg.PasswordConcurrency, cfg.PasswordQueue, cfg.PasswordQueueTimeout).observed(m),
	}
	s.bcryptTime = bcryptTime
	s.dpop = proofs
	if s.tokenURL, err = url.Parse(s.endpoint("/token")); err != nil {
		return nil, fmt.Errorf("config: token endpoint: %w", err)
	}
	s.secureCookies = cfg.ServesTLS || strings.HasPrefix(cfg.Issuer, "https://") || len(cfg.TrustedProxies) > 0
	s.grants = newGrants(s)
	return s, nil
}

func realmFor(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		return strings.ReplaceAll(u.Host, `"`, "")
	}
	return "authserver"
}

// endpoint is an absolute URL under the issuer, for metadata.
func (s *server) endpoint(path string) string {
	return strings.TrimSuffix(s.cfg.Issuer, "/") + path
}
