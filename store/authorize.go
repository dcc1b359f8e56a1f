package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Grant types of browser and device login (RFC 6749 §4.1, RFC 8628 §3.4).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// GrantAliases are the short names an administrator may type for a grant
// type whose name is a URN (authctl, bootstrap files).
var GrantAliases = map[string]string{"device_code": GrantDeviceCode}

// CanonicalGrantTypes returns grants with every alias replaced by the grant
// type it stands for.
func CanonicalGrantTypes(grants []string) []string {
	out := make([]string, len(grants))
	for i, g := range grants {
		if full, ok := GrantAliases[g]; ok {
			g = full
		}
		out[i] = g
	}
	return out
}

// ErrCodeReused: an authorization code was presented again after it was
// redeemed. The backend has ended the grant the first redemption started
// before returning this (RFC 6749 §4.1.2).
var ErrCodeReused = errors.New("authorization code reused")

// AuthCodeTTL is the life of an authorization code: RFC 6749 §4.1.2 advises
// at most ten minutes, and a browser redirect takes a second.
const AuthCodeTTL = 60 * time.Second

// AuthCode is an authorization code (RFC 6749 §4.1.2), keyed by the hash of
// its value and bound to everything the token request must present again:
// its client, the redirect URI, the PKCE challenge (RFC 7636 §4.4), the
// scope the user consented to and the user, at the version the login
// checked (a password change since then ends the code as it ends tokens).
type AuthCode struct {
	Hash        string // HashToken of the code value
	ClientID    string
	Username    string
	UserVersion int64
	RedirectURI string
	Challenge   string // the S256 code_challenge
	Scope       string
	// FamilyID is the grant its tokens start: known from the code's
	// creation, so a second redemption can end it (ErrCodeReused).
	FamilyID  string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Redeemed is set by RedeemAuthCode; the code is kept until it expires
	// so that a second redemption is recognised.
	Redeemed bool
}

// DeviceStatus is where a device authorization stands (RFC 8628 §3.5).
type DeviceStatus string

// Device authorization states.
const (
	DevicePending  DeviceStatus = "pending"
	DeviceApproved DeviceStatus = "approved"
	DeviceDenied   DeviceStatus = "denied"
)

// DeviceGrant is one device authorization request (RFC 8628 §3.1), keyed by
// the hash of its device_code and found from the page by the hash of its
// normalized user_code (NormalizeUserCode).
type DeviceGrant struct {
	Hash         string // HashToken of the device_code
	UserCodeHash string // HashToken of the normalized user_code
	ClientID     string
	Scope        string
	IssuedAt     time.Time
	ExpiresAt    time.Time
	// Interval is the least time between two polls; each poll sooner
	// than it adds DeviceSlowDownStep (RFC 8628 §3.5 slow_down).
	Interval     time.Duration
	LastPolledAt time.Time // zero before the first poll
	Status       DeviceStatus
	// Username and UserVersion are set by the approval: the user who
	// approved, at the version the login checked.
	Username    string
	UserVersion int64
	// FamilyID is the grant its tokens start.
	FamilyID string
}

// DeviceSlowDownStep is what a too-early poll adds to the interval
// (RFC 8628 §3.5).
const DeviceSlowDownStep = 5 * time.Second

// Session is a browser's login at the authorization server (the session
// cookie), keyed by the hash of the cookie value. It is valid while it has
// not expired and its user is still at UserVersion: a password change or a
// disable moves the version on and so ends it, and the store deletes the
// user's sessions with its grants as well.
type Session struct {
	Hash        string // HashToken of the cookie value
	Username    string
	UserVersion int64
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// Consent is the scopes a user has allowed a client, remembered until it
// expires or is revoked.
type Consent struct {
	Username  string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
	ExpiresAt time.Time
}

// Covers reports whether the consent, at now, allows every scope of scope
// (space-delimited).
func (c Consent) Covers(scope string, now time.Time) bool {
	if !now.Before(c.ExpiresAt) {
		return false
	}
	for _, s := range strings.Fields(scope) {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// Authorizations stores what browser and device login need between their
// steps: codes, device authorizations, sessions and consents. Every value a
// browser or device holds is stored as its HashToken only.
type Authorizations interface {
	// CreateAuthCode stores c; ErrAlreadyExists if its hash is taken.
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// GetAuthCode returns the code whatever its expiry or redemption;
	// ErrNotFound if there is none (or it has been swept).
	GetAuthCode(ctx context.Context, hash string) (AuthCode, error)
	// RedeemAuthCode marks the code redeemed and inserts tokens, the
	// first tokens of grant code.FamilyID, in one transaction. Exactly one
	// of any number of concurrent calls for one code succeeds, across
	// processes. ErrNotFound if there is no such code or it has expired
	// at now; ErrCodeReused if it was redeemed already, in which case the
	// grant it started (code.FamilyID) has been ended and nothing is
	// inserted; ErrClientChanged or ErrUserChanged, and nothing changed,
	// as for CreateTokens.
	RedeemAuthCode(ctx context.Context, hash string, now time.Time, v Versions, tokens ...Token) error

	// CreateDeviceGrant stores d (Status DevicePending); ErrAlreadyExists
	// if its hash or its user code hash is taken.
	CreateDeviceGrant(ctx context.Context, d DeviceGrant) error
	// GetDeviceGrantByUserCode returns the pending device authorization
	// of a user code; ErrNotFound if there is none, it has expired at now
	// or it has been decided already.
	GetDeviceGrantByUserCode(ctx context.Context, userCodeHash string, now time.Time) (DeviceGrant, error)
	// DecideDeviceGrant approves (as username at userVersion) or denies the
	// pending device authorization of a user code, with the scope the user
	// consented to; ErrNotFound if there is none pending and unexpired at
	// now.
	DecideDeviceGrant(ctx context.Context, userCodeHash string, now time.Time, approve bool, username string, userVersion int64) error
	// PollDeviceGrant records a poll at now of the device authorization
	// hash and returns it (whatever its expiry: the caller answers
	// expired_token). A poll sooner than Interval after the last one adds
	// DeviceSlowDownStep to Interval and reports slowDown (the returned
	// grant carries the new interval). ErrNotFound if there is none (or it
	// has been redeemed).
	PollDeviceGrant(ctx context.Context, hash string, now time.Time) (d DeviceGrant, slowDown bool, err error)
	// RedeemDeviceGrant deletes the approved device authorization hash and
	// inserts tokens, the first of grant FamilyID, in one transaction.
	// Exactly one of concurrent calls succeeds. ErrNotFound if there is
	// none approved and unexpired at now; ErrClientChanged or
	// ErrUserChanged, and nothing changed, as for CreateTokens.
	RedeemDeviceGrant(ctx context.Context, hash string, now time.Time, v Versions, tokens ...Token) error

	// CreateSession stores s; ErrAlreadyExists if its hash is taken.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session whatever its expiry; ErrNotFound.
	GetSession(ctx context.Context, hash string) (Session, error)
	// DeleteSession ends a session (logout); no error if there is none.
	DeleteSession(ctx context.Context, hash string) error

	// GetConsent returns the consent of username for clientID whatever its
	// expiry; ErrNotFound if there is none.
	GetConsent(ctx context.Context, username, clientID string) (Consent, error)
	// SaveConsent records c, replacing any consent of its user and client.
	SaveConsent(ctx context.Context, c Consent) error
	// RevokeConsent forgets the consent of username for clientID; no error
	// if there is none.
	RevokeConsent(ctx context.Context, username, clientID string) error
}

// Limits of what a client registers.
const (
	MaxRedirectURIs     = 10
	MaxRedirectURIBytes = 2000
)

// ValidateRedirectURI checks a redirect URI an administrator registers
// (RFC 6749 §3.1.2, RFC 9700 §2.1, RFC 8252 §7.3): absolute, without a
// fragment or user information, and https, or http only on a loopback IP
// literal (127.0.0.1 or [::1]); "localhost" is refused as RFC 8252 §8.3
// advises.
func ValidateRedirectURI(uri string) error {
	if uri == "" || len(uri) > MaxRedirectURIBytes {
		return fmt.Errorf("redirect URI must be 1 to %d bytes", MaxRedirectURIBytes)
	}
	if !isVSCHAR(uri) || strings.Contains(uri, " ") {
		return fmt.Errorf("redirect URI %q: printable ASCII without spaces only", uri)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("redirect URI %q: %w", uri, err)
	}
	switch {
	case u.Fragment != "" || strings.Contains(uri, "#"):
		return fmt.Errorf("redirect URI %q must not have a fragment (RFC 6749 §3.1.2)", uri)
	case u.User != nil:
		return fmt.Errorf("redirect URI %q must not have user information", uri)
	case u.Host == "" || u.Opaque != "":
		return fmt.Errorf("redirect URI %q must be an absolute http(s) URL", uri)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackIP(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("redirect URI %q: http is allowed only on a loopback IP (127.0.0.1 or [::1], RFC 8252 §7.3)", uri)
	default:
		return fmt.Errorf("redirect URI %q: the scheme must be https (or http on a loopback IP)", uri)
	}
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() && (host == "127.0.0.1" || host == "::1")
}

// MatchRedirectURI reports whether uri, as a request presents it, is one
// the client registered: string for string (RFC 9700 §2.1), except that a
// public client's loopback URI matches on any port (RFC 8252 §7.3), since a
// native app listens on whatever port it gets.
func (c Client) MatchRedirectURI(uri string) bool {
	// RFC 6749 §3.1.2: no fragment, not even an empty one.
	if strings.Contains(uri, "#") {
		return false
	}
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	if !c.Public() || !strings.HasPrefix(uri, "http://") {
		return false
	}
	want, ok := withoutLoopbackPort(uri)
	if !ok {
		return false
	}
	return slices.ContainsFunc(c.RedirectURIs, func(registered string) bool {
		r, ok := withoutLoopbackPort(registered)
		return ok && r == want
	})
}

// withoutLoopbackPort returns an http loopback URI with its port taken
// out; ok is false for any other URI.
func withoutLoopbackPort(uri string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || !isLoopbackIP(u.Hostname()) {
		return "", false
	}
	if p := u.Port(); p != "" {
		if strings.TrimLeft(p, "0123456789") != "" {
			return "", false
		}
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	u.Host = host
	return u.String(), true
}

// PKCE (RFC 7636).
const (
	minVerifierLength = 43
	maxVerifierLength = 128
	// s256Length is the length of base64url(SHA-256), unpadded.
	s256Length = 43
)

// ValidCodeVerifier reports whether v is a code_verifier RFC 7636 §4.1
// allows: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_"
// / "~".
func ValidCodeVerifier(v string) bool {
	if len(v) < minVerifierLength || len(v) > maxVerifierLength {
		return false
	}
	return isUnreserved(v)
}

// ValidS256Challenge reports whether c can be an S256 code_challenge: the
// unpadded base64url of a SHA-256, 43 characters (RFC 7636 §4.2).
func ValidS256Challenge(c string) bool {
	if len(c) != s256Length {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil
}

// S256Challenge is the S256 code_challenge of a verifier (RFC 7636 §4.2).
func S256Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// VerifierMatches reports, in constant time, whether verifier is valid and
// hashes to the code's challenge (RFC 7636 §4.6).
func (c AuthCode) VerifierMatches(verifier string) bool {
	if !ValidCodeVerifier(verifier) || c.Challenge == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(S256Challenge(verifier)), []byte(c.Challenge)) == 1
}

func isUnreserved(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// userCodeAlphabet is RFC 8628 §6.1's: 20 consonants, no vowels (no words)
// and none easily confused.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// userCodeLength gives 20^8, about 2^34.6, codes: with a 10-minute life
// and guessing throttled per source, a guess almost never lands (§5.1).
const userCodeLength = 8

// NewUserCode returns a fresh user_code in its normalized form (8
// consonants); FormatUserCode shows it as XXXX-XXXX.
func NewUserCode() (string, error) {
	b := make([]byte, userCodeLength)
	for i := range b {
		// rand.Int-free rejection sampling over one byte: 240 = 12*20.
		for {
			var r [1]byte
			if _, err := rand.Read(r[:]); err != nil {
				return "", fmt.Errorf("read random: %w", err)
			}
			if r[0] < 240 {
				b[i] = userCodeAlphabet[int(r[0])%len(userCodeAlphabet)]
				break
			}
		}
	}
	return string(b), nil
}

// FormatUserCode shows a normalized user code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != userCodeLength {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// MaxUserCodeInput bounds what the device page reads as a user code.
const MaxUserCodeInput = 32

// NormalizeUserCode reads a user code as a person types it: case-blind,
// ignoring dashes and spaces (RFC 8628 §6.1). ok is false for anything that
// cannot be a code of ours.
func NormalizeUserCode(input string) (code string, ok bool) {
	if len(input) > MaxUserCodeInput {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(input); i++ {
		c := input[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		if strings.IndexByte(userCodeAlphabet, c) < 0 {
			return "", false
		}
		b.WriteByte(c)
	}
	if b.Len() != userCodeLength {
		return "", false
	}
	return b.String(), true
}
