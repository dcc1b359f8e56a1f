// Package jwtaccess checks RFC 9068 JWT access tokens locally, with the
// keys the authorization server publishes (RFC 7517 JWKS): no round trip
// per token. The keys are cached; a token naming a kid not in the cache
// makes one fetch, and a flood of made-up kids makes at most one fetch per
// MinRefetch between them. The JOSE work is go-jose's.
//
// A token checked locally stays valid until it expires even if it was
// revoked at the authorization server: keep such tokens short-lived (5
// minutes by default there).
package jwtaccess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/sync/singleflight"
)

// Defaults and bounds of Config.
const (
	// DefaultLeeway is the Leeway when Config leaves it zero.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest Leeway NewVerifier accepts.
	MaxLeeway = 60 * time.Second
	// DefaultMinRefetch is the MinRefetch when Config leaves it zero.
	DefaultMinRefetch = 5 * time.Second
	// The JWKS is refreshed after its max-age, clamped to these.
	minMaxAge, defaultMaxAge, maxMaxAge = 30 * time.Second, 5 * time.Minute, time.Hour
	// MaxTokenBytes bounds a token before any parsing: the authorization
	// server's own bound (store.MaxTokenBytes), which it refuses to sign
	// beyond, so no token it issued is refused here for its size.
	MaxTokenBytes = 8 << 10
	maxJWKSBytes  = 64 << 10
	fetchTimeout  = 5 * time.Second
)

// DefaultAlgs are the token algorithms accepted by default: those the
// authorization server signs with.
var DefaultAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA}

// Config of a Verifier.
type Config struct {
	// JWKSURL is where the authorization server publishes its keys: an
	// absolute http(s) URL without userinfo.
	JWKSURL string
	// Issuer is the exact iss a token must carry.
	Issuer string
	// Audience is the value this resource requires among the token's aud
	// (a string or an array).
	Audience string
	// Algs is the allow-list; never none nor HS* (an HMAC keyed with a
	// public key is the classic confusion attack).
	Algs []jose.SignatureAlgorithm
	// Leeway for exp, nbf and iat; at most MaxLeeway, DefaultLeeway when
	// zero.
	Leeway time.Duration
	// MinRefetch is the least time between two fetches caused by unknown
	// kids; DefaultMinRefetch when zero.
	MinRefetch time.Duration
	// MaxAge is how often the JWKS is refreshed even when every kid is
	// known (lazily: by the first token checked after it, in the
	// background). By default the response's Cache-Control max-age,
	// clamped to [30s, 1h], or 5 minutes without one.
	MaxAge time.Duration
	// HTTPClient fetches the JWKS; by default one with a timeout that
	// follows no redirect.
	HTTPClient *http.Client
	// Now is the clock for exp, nbf, iat and the key cache; time.Now by
	// default.
	Now func() time.Time
}

// Claims is what a checked token says (RFC 9068 §2.2).
type Claims struct {
	Subject  string // sub
	ClientID string // client_id
	Scope    string // scope, space-separated; for the caller to check
	Username string // username, "" when absent
	JTI      string // jti
	Audience []string
	IssuedAt time.Time
	Expiry   time.Time
	JKT      string // cnf.jkt (RFC 9449 §6.1), "" when not DPoP-bound
}

// Verifier checks tokens; safe for concurrent use.
type Verifier struct {
	jwksURL, issuer    string
	audience           jwt.Audience // the one we require, as go-jose expects it
	algs               []jose.SignatureAlgorithm
	leeway, minRefetch time.Duration
	maxAge             time.Duration // 0: the response's
	http               *http.Client
	now                func() time.Time

	keys   atomic.Pointer[keySet]
	flight singleflight.Group
	// lastStale is when (Unix ns) a set past its max-age was last
	// refreshed.
	lastStale atomic.Int64
	// mu guards lastMiss, the last fetch caused by an unknown kid.
	mu       sync.Mutex
	lastMiss *missFetch
}

// keySet is an immutable snapshot of the JWKS.
type keySet struct {
	byKID   map[string]jose.JSONWebKey
	fetched time.Time
	maxAge  time.Duration
}

var (
	// ErrInvalidToken: the token is not a valid access token for this
	// resource (answer 401 invalid_token).
	ErrInvalidToken = errors.New("invalid access token")
	// ErrUnavailable: the keys could not be fetched to check the token
	// (answer 503: fail closed).
	ErrUnavailable = errors.New("signing keys unavailable")
)

type refusal struct {
	reason, msg string
	unavailable bool
	cause       error
}

func (r *refusal) Error() string {
	if r.cause != nil {
		return r.msg + ": " + r.cause.Error()
	}
	return r.msg
}

func (r *refusal) Is(target error) bool {
	if r.unavailable {
		return target == ErrUnavailable
	}
	return target == ErrInvalidToken
}

func (r *refusal) Unwrap() error { return r.cause }

func invalid(reason, msg string) error {
	return &refusal{reason: reason, msg: "invalid access token: " + msg}
}

// Reason is the fixed label of a refusal, for metrics and logs: malformed,
// too_large, typ, alg, kid, signature, iss, aud, exp, nbf, iat, claims or
// unavailable; "" for another error.
func Reason(err error) string {
	var r *refusal
	if errors.As(err, &r) {
		return r.reason
	}
	return ""
}

// NewVerifier checks cfg, reporting every problem at once, and returns a
// Verifier with an empty key cache: the first token fetches the JWKS
// (call Refresh to fetch it at start-up).
func NewVerifier(cfg Config) (*Verifier, error) {
	var problems []error
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		problems = append(problems, errors.New("the JWKS URL is not an absolute http(s) URL without userinfo"))
	}
	if cfg.Issuer == "" {
		problems = append(problems, errors.New("the expected issuer is empty"))
	}
	if cfg.Audience == "" {
		problems = append(problems, errors.New("the expected audience is empty"))
	}
	v := &Verifier{jwksURL: cfg.JWKSURL, issuer: cfg.Issuer, audience: jwt.Audience{cfg.Audience}, algs: cfg.Algs,
		leeway: cfg.Leeway, minRefetch: cfg.MinRefetch, maxAge: cfg.MaxAge, http: cfg.HTTPClient, now: cfg.Now}
	if len(v.algs) == 0 {
		v.algs = DefaultAlgs
	}
	for _, a := range v.algs {
		switch a {
		case jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		default:
			problems = append(problems, fmt.Errorf("token algorithm %q is not an asymmetric JWS algorithm", a))
		}
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0 || v.leeway > MaxLeeway:
		problems = append(problems, fmt.Errorf("leeway %v: must be between 0 and %v", v.leeway, MaxLeeway))
	}
	if v.minRefetch <= 0 {
		v.minRefetch = DefaultMinRefetch
	}
	if v.maxAge < 0 {
		problems = append(problems, fmt.Errorf("max-age %v: must not be negative", v.maxAge))
	}
	if v.http == nil {
		v.http = &http.Client{Timeout: fetchTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if v.now == nil {
		v.now = time.Now
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	v.keys.Store(&keySet{byKID: map[string]jose.JSONWebKey{}})
	return v, nil
}

// wire is the payload of an access token.
type wire struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Username string `json:"username"`
	Cnf      *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// Verify checks token and returns its claims; scope is for the caller to
// check. In order: size; a compact JWS (one signature) whose alg is in the
// allow-list; typ at+jwt; kid present and known (fetching the JWKS if
// not); signature; iss, aud, nbf, exp and iat (exp and iat required); sub,
// client_id and jti present.
//
// A refusal wraps ErrInvalidToken, or ErrUnavailable when the kid is not
// cached and the JWKS cannot be fetched; Reason labels it. No error quotes
// the token or a value from it.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if len(token) > MaxTokenBytes {
		return Claims{}, invalid("too_large", "too large")
	}
	parsed, err := jwt.ParseSigned(token, v.algs)
	if err != nil {
		if _, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return Claims{}, invalid("alg", "algorithm not allowed")
		}
		return Claims{}, invalid("malformed", "not a compact JWS")
	}
	if len(parsed.Headers) != 1 {
		return Claims{}, invalid("malformed", "not exactly one signature")
	}
	h := parsed.Headers[0]
	// RFC 9068 §2.1, §4: typ at+jwt, or its media type spelled out.
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if t := strings.ToLower(typ); t != "at+jwt" && t != "application/at+jwt" {
		return Claims{}, invalid("typ", "typ is not at+jwt")
	}
	if !slices.Contains(v.algs, jose.SignatureAlgorithm(h.Algorithm)) {
		return Claims{}, invalid("alg", "algorithm not allowed")
	}
	if h.KeyID == "" {
		return Claims{}, invalid("kid", "no kid")
	}
	key, err := v.key(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return Claims{}, err
	}
	var c wire
	if err := parsed.Claims(key.Key, &c); err != nil {
		return Claims{}, invalid("signature", "signature does not verify")
	}
	err = c.ValidateWithLeeway(jwt.Expected{Issuer: v.issuer, AnyAudience: v.audience, Time: v.now()}, v.leeway)
	switch {
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return Claims{}, invalid("iss", "another issuer")
	case errors.Is(err, jwt.ErrInvalidAudience):
		return Claims{}, invalid("aud", "not for this audience")
	case errors.Is(err, jwt.ErrExpired):
		return Claims{}, invalid("exp", "expired")
	case errors.Is(err, jwt.ErrNotValidYet):
		return Claims{}, invalid("nbf", "not valid yet")
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return Claims{}, invalid("iat", "issued in the future")
	case err != nil:
		return Claims{}, invalid("claims", "claims do not validate")
	// go-jose lets exp and iat be absent; RFC 9068 §2.2 requires them,
	// and sub, client_id and jti.
	case c.Expiry == nil:
		return Claims{}, invalid("exp", "no exp")
	case c.IssuedAt == nil:
		return Claims{}, invalid("iat", "no iat")
	case c.Subject == "" || c.ClientID == "" || c.ID == "":
		return Claims{}, invalid("claims", "sub, client_id and jti are required")
	}
	out := Claims{Subject: c.Subject, ClientID: c.ClientID, Scope: c.Scope, Username: c.Username, JTI: c.ID,
		Audience: []string(c.Audience), IssuedAt: c.IssuedAt.Time(), Expiry: c.Expiry.Time()}
	if c.Cnf != nil {
		out.JKT = c.Cnf.JKT
	}
	return out, nil
}

// key finds kid, fetching the JWKS when the cache does not have it or is
// past its max-age. Fetches caused by unknown kids are at most one per
// minRefetch; concurrent callers share one fetch.
func (v *Verifier) key(ctx context.Context, kid, alg string) (jose.JSONWebKey, error) {
	set := v.keys.Load()
	now := v.now()
	k, known := set.byKID[kid]
	if known && now.Sub(set.fetched) < set.maxAge {
		return k, v.usable(k, alg)
	}
	if known {
		// Stale: refresh in the background, at most once per minRefetch,
		// and use the key meanwhile (a failed refresh keeps it).
		// No lock: while the JWKS is down every request comes here.
		last := v.lastStale.Load()
		if now.UnixNano()-last >= int64(v.minRefetch) && v.lastStale.CompareAndSwap(last, now.UnixNano()) {
			go func() { _, _ = v.fetch(context.WithoutCancel(ctx)) }()
		}
		return k, v.usable(k, alg)
	}
	// Unknown kid: share the last fetch caused by one if it started less
	// than minRefetch ago (waiting for it if it still runs), else start
	// one.
	v.mu.Lock()
	p := v.lastMiss
	if p == nil || now.Sub(p.started) >= v.minRefetch {
		p = &missFetch{started: now, done: make(chan struct{})}
		v.lastMiss = p
		// Detached from this caller: others wait for it too.
		go func() {
			_, p.err = v.fetch(context.WithoutCancel(ctx))
			close(p.done)
		}()
	}
	v.mu.Unlock()
	select {
	case <-p.done:
	case <-ctx.Done():
		return jose.JSONWebKey{}, unavailable(ctx.Err())
	}
	// Looked up again even when p ended long ago: a fetch that ended
	// after the first look may have brought the kid.
	if k, ok := v.keys.Load().byKID[kid]; ok {
		return k, v.usable(k, alg)
	}
	if p.err != nil {
		// Until the next fetch is due, the keys are as unknown as at
		// the failed one: fail closed, but not as the token's fault.
		return jose.JSONWebKey{}, unavailable(p.err)
	}
	return jose.JSONWebKey{}, invalid("kid", "unknown kid")
}

// missFetch is a JWKS fetch caused by an unknown kid; err is set before
// done is closed.
type missFetch struct {
	started time.Time
	done    chan struct{}
	err     error
}

func unavailable(cause error) error {
	return &refusal{reason: "unavailable", msg: "fetch the JWKS", unavailable: true, cause: cause}
}

// usable refuses a key whose own alg differs from the token's.
func (v *Verifier) usable(k jose.JSONWebKey, alg string) error {
	if k.Algorithm != "" && k.Algorithm != alg {
		return invalid("alg", "the key is for another algorithm")
	}
	return nil
}

// Refresh fetches the JWKS now (at start-up, and from tests).
func (v *Verifier) Refresh(ctx context.Context) error {
	_, err := v.fetch(ctx)
	return err
}

// fetch reads the JWKS once for all concurrent callers and installs it.
func (v *Verifier) fetch(ctx context.Context) (*keySet, error) {
	ch := v.flight.DoChan("jwks", func() (any, error) {
		// Detached: one caller giving up must not fail the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		set, err := v.download(ctx)
		if err != nil {
			return nil, err
		}
		v.keys.Store(set)
		return set, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*keySet), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (v *Verifier) download(ctx context.Context) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS answered status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKSBytes)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, errors.New("the JWKS is not JSON with a keys array")
	}
	set := &keySet{byKID: make(map[string]jose.JSONWebKey, len(raw.Keys)), fetched: v.now(), maxAge: v.maxAge}
	if set.maxAge == 0 {
		set.maxAge = maxAge(resp.Header)
	}
	for _, r := range raw.Keys {
		// A key of an unknown type is skipped, not fatal (RFC 7517 §5).
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil || !k.IsPublic() || k.KeyID == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if k.Algorithm != "" && !slices.Contains(v.algs, jose.SignatureAlgorithm(k.Algorithm)) {
			continue
		}
		set.byKID[k.KeyID] = k
	}
	if len(set.byKID) == 0 {
		// A server always publishes the key it signs with: an empty set
		// is a mistake, and taking it would refuse every token.
		return nil, errors.New("the JWKS has no usable signing key")
	}
	return set, nil
}

// maxAge reads Cache-Control max-age, clamped.
func maxAge(h http.Header) time.Duration {
	for d := range strings.SplitSeq(h.Get("Cache-Control"), ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		if strings.EqualFold(name, "max-age") {
			if n, err := strconv.Atoi(strings.Trim(value, `"`)); err == nil {
				return min(max(time.Duration(n)*time.Second, minMaxAge), maxMaxAge)
			}
		}
	}
	return defaultMaxAge
}
