package resource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/internal/revocation"
	"github.com/example/authsvc/store"
)

// Introspection is what the authorization server says about a token
// (RFC 7662 §2.2). Only the members this service uses are kept.
type Introspection struct {
	Active    bool
	Scope     string // space-delimited (RFC 6749 §3.3)
	ClientID  string
	Username  string // set only for tokens of the password grant
	Subject   string
	TokenType string // "Bearer"
	TokenUse  string // "access_token" or "refresh_token"
	Issuer    string
	ExpiresAt time.Time // zero if the answer had no exp
	IssuedAt  time.Time
	// Audience is what the token is for (aud); empty when the answer
	// names none.
	Audience []string
	// JKT is the DPoP key the token is bound to (cnf.jkt, RFC 9449 §6);
	// "" for a bearer token.
	JKT string
	// Grant names the token's grant as revocation events do
	// (authsvc_grant; empty from another authorization server).
	Grant string
	// refusal says, for the log only, why a token checked locally is
	// inactive.
	refusal string
}

// For reports whether the token is meant for audience: its aud names it,
// or it names no audience at all (tokens from before audiences).
func (in Introspection) For(audience string) bool {
	return len(in.Audience) == 0 || slices.Contains(in.Audience, audience)
}

// Owner is the key the caller's items are stored under. Users and clients
// live in separate namespaces, so a client whose id equals a username never
// reaches that user's items (RFC 9700 §4.15). It is empty when the answer
// names neither.
func (in Introspection) Owner() string {
	switch {
	case in.Username != "":
		return "user:" + in.Username
	case in.ClientID != "":
		return "client:" + in.ClientID
	default:
		return ""
	}
}

// hasOwner reports whether Owner is not empty, without building it.
func (in Introspection) hasOwner() bool {
	return in.Username != "" || in.ClientID != ""
}

// HasScope reports whether scope is one of the granted scope tokens.
func (in Introspection) HasScope(scope string) bool {
	for s := range strings.FieldsSeq(in.Scope) { // no slice per request
		if s == scope {
			return true
		}
	}
	return false
}

// usable reports whether the token may be used as a bearer access token at
// now. A server that says active while exp has passed is not believed, and a
// refresh token presented as a bearer token is refused.
func (in Introspection) usable(now time.Time) bool {
	if !in.Active || in.TokenUse != string(store.AccessToken) {
		return false
	}
	if in.TokenType != "" && !strings.EqualFold(in.TokenType, "Bearer") && !strings.EqualFold(in.TokenType, "DPoP") {
		return false
	}
	return in.ExpiresAt.IsZero() || now.Before(in.ExpiresAt)
}

// Introspector tells what a token is worth. An inactive token is not an
// error: it is an Introspection with Active false. Errors mean the answer
// could not be obtained and wrap ErrUnavailable.
type Introspector interface {
	Introspect(ctx context.Context, token string) (Introspection, error)
}

var (
	// ErrUnavailable: the authorization server could not be asked or gave
	// no usable answer. Requests fail closed with 503 and Retry-After.
	ErrUnavailable = errors.New("authorization server unavailable")
	// ErrClientRejected: the introspection endpoint refused this service's
	// own client credentials. It is a configuration error; errors carrying
	// it wrap ErrUnavailable too.
	ErrClientRejected = errors.New("introspection endpoint rejected our client credentials")
)

// Defaults of IntrospectionClientConfig.
const (
	DefaultIntrospectTimeout = 2 * time.Second
	// maxIntrospectionBody bounds what is read from the authorization
	// server: a real answer is a few hundred bytes.
	maxIntrospectionBody = 64 << 10
)

// IntrospectionClientConfig configures NewIntrospectionClient.
type IntrospectionClientConfig struct {
	URL          string        // the RFC 7662 endpoint
	ClientID     string        // this service's client at the authorization server
	ClientSecret string        // never logged
	Timeout      time.Duration // per call, connection included; 0 means DefaultIntrospectTimeout
	// Transport replaces the default keep-alive transport (tests).
	Transport http.RoundTripper
	// Tracing, when on, makes each call a span and sends its traceparent.
	Tracing obs.Tracing
}

// IntrospectionClient calls an RFC 7662 endpoint over a keep-alive
// connection pool, authenticating with client_secret_basic. It caches
// nothing; wrap it in a Cache.
type IntrospectionClient struct {
	url           string
	authorization string
	timeout       time.Duration
	http          *http.Client
}

// NewIntrospectionClient checks cfg and builds a client.
func NewIntrospectionClient(cfg IntrospectionClientConfig) (*IntrospectionClient, error) {
	var problems []error
	u, err := url.Parse(cfg.URL)
	// Never echo the URL: userinfo in it would be a password.
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		problems = append(problems, errors.New("introspection URL is not an absolute http(s) URL without userinfo (credentials go in the client id and secret)"))
	}
	if cfg.ClientID == "" {
		problems = append(problems, errors.New("introspection client id is empty"))
	}
	if cfg.ClientSecret == "" {
		problems = append(problems, errors.New("introspection client secret is empty"))
	}
	if cfg.Timeout < 0 {
		problems = append(problems, fmt.Errorf("introspection timeout %s is negative", cfg.Timeout))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultIntrospectTimeout
	}
	transport := cfg.Transport
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Every protected request may need a call: keep enough idle
		// connections to the one host for a burst (the default is 2).
		t.MaxIdleConns = 100
		t.MaxIdleConnsPerHost = 100
		t.IdleConnTimeout = 90 * time.Second
		transport = t
	}
	transport = outbound(transport, cfg.Tracing)
	// RFC 6749 §2.3.1: id and secret are form-urlencoded before base64, so
	// a secret holding ':' or '%' survives the trip.
	creds := url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret)
	return &IntrospectionClient{
		url:           cfg.URL,
		authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte(creds)),
		timeout:       timeout,
		http: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			// A redirect is a misconfigured URL; following it would resend
			// the token somewhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// introspectionResponse is the RFC 7662 §2.2 wire form.
type introspectionResponse struct {
	Active    *bool    `json:"active"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	Username  string   `json:"username"`
	Subject   string   `json:"sub"`
	TokenType string   `json:"token_type"`
	TokenUse  string   `json:"token_use"`
	Issuer    string   `json:"iss"`
	Exp       float64  `json:"exp"`
	Iat       float64  `json:"iat"`
	Aud       audience `json:"aud"`
	Cnf       *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
	Grant string `json:"authsvc_grant"`
}

// audience is an aud member: one string or an array of them (RFC 7662
// §2.2, RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// Introspect asks the authorization server about token.
func (c *IntrospectionClient) Introspect(ctx context.Context, token string) (Introspection, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {string(store.AccessToken)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(form.Encode()))
	if err != nil {
		return Introspection{}, fmt.Errorf("%w: build request: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", c.authorization)
	// Introspection changes nothing, so it may be sent again: with this
	// (unsent) header the transport retries it on a fresh connection when
	// a kept-alive one turns out closed (the authorization server
	// restarted or dropped it), instead of answering 503 for nothing.
	req.Header["Idempotency-Key"] = nil

	resp, err := c.http.Do(req)
	if err != nil {
		// The URL error names the endpoint, never the body with the token.
		return Introspection{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer func() {
		// Drain a little so the connection goes back to the pool.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxIntrospectionBody))
		_ = resp.Body.Close()
	}()

	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return Introspection{}, fmt.Errorf("%w: %w: status %d", ErrUnavailable, ErrClientRejected, resp.StatusCode)
	default:
		return Introspection{}, fmt.Errorf("%w: introspection answered status %d", ErrUnavailable, resp.StatusCode)
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBody+1))
	if err != nil {
		return Introspection{}, fmt.Errorf("%w: read introspection answer: %w", ErrUnavailable, err)
	}
	if len(body) > maxIntrospectionBody {
		return Introspection{}, fmt.Errorf("%w: introspection answer larger than %d bytes", ErrUnavailable, maxIntrospectionBody)
	}
	var wire introspectionResponse
	if err := json.Unmarshal(body, &wire); err != nil {
		return Introspection{}, fmt.Errorf("%w: decode introspection answer: %w", ErrUnavailable, err)
	}
	if wire.Active == nil {
		return Introspection{}, fmt.Errorf("%w: introspection answer has no \"active\" member", ErrUnavailable)
	}
	if !*wire.Active {
		return Introspection{}, nil
	}
	in := Introspection{
		Active:    true,
		Scope:     wire.Scope,
		ClientID:  wire.ClientID,
		Username:  wire.Username,
		Subject:   wire.Subject,
		TokenType: wire.TokenType,
		TokenUse:  wire.TokenUse,
		Issuer:    wire.Issuer,
		ExpiresAt: unixTime(wire.Exp),
		IssuedAt:  unixTime(wire.Iat),
		Audience:  wire.Aud,
		Grant:     wire.Grant,
	}
	if wire.Cnf != nil {
		in.JKT = wire.Cnf.JKT
	}
	return in, nil
}

// unixTime turns NumericDate seconds (RFC 7519 §2, possibly fractional)
// into a time; 0 (absent) stays the zero time.
func unixTime(sec float64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(frac*float64(time.Second))).UTC()
}

// RevocationStream is a client of the authorization server's revocation
// stream at streamURL (internal/revocation), authenticated as this
// introspection client is. Run it with the Cache that wraps c.
func (c *IntrospectionClient) RevocationStream(streamURL string, heartbeat time.Duration) (*revocation.Client, error) {
	if u, err := url.Parse(streamURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, errors.New("revocation stream URL is not an absolute http(s) URL without userinfo")
	}
	return &revocation.Client{
		URL:           streamURL,
		Authorization: c.authorization,
		// The same transport, without the per-call timeout: the stream
		// lasts, and its heartbeat bounds a silent one.
		HTTP:      &http.Client{Transport: c.http.Transport, CheckRedirect: c.http.CheckRedirect},
		Heartbeat: heartbeat,
	}, nil
}

// RevocationsURL is where the revocation stream of the authorization server
// whose introspection endpoint is introspectURL is: the same origin, path
// /revocations.
func RevocationsURL(introspectURL string) (string, error) {
	u, err := url.Parse(introspectURL)
	if err != nil || u.Host == "" {
		return "", errors.New("introspection URL is not absolute")
	}
	dir := u.Path[:strings.LastIndexByte(u.Path, '/')+1]
	if dir == "" {
		dir = "/"
	}
	u.Path, u.RawPath, u.RawQuery, u.Fragment = dir+"revocations", "", "", ""
	return u.String(), nil
}
