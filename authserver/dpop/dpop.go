// Package dpop checks DPoP proofs (RFC 9449): the token endpoint binds
// tokens to the proof's key, and a resource checks that every use of a
// bound token comes with a fresh proof by that key. It depends on the
// standard library and go-jose only, so that both the authorization server
// and the resource service use the same checks.
//
// Server-provided nonces (RFC 9449 §8, §9) are not implemented: freshness
// rests on iat within a short window plus a replay cache of jti per key.
package dpop

import (
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults of Config.
const (
	DefaultWindow = 60 * time.Second
	DefaultSkew   = 5 * time.Second
	// At about 80 bytes an entry, the replay cache holds at most 40 MB:
	// 500,000 proofs a minute, 8,000 a second. One key may hold a fifth
	// of it.
	DefaultMaxReplayEntries = 500_000
	DefaultMaxPerKey        = 100_000
	// MaxProofBytes bounds a proof before any parsing: a proof with an
	// RSA-4096 key is under 2 KiB.
	MaxProofBytes = 8 << 10
	maxJTIBytes   = 256
)

// DefaultAlgs are the proof algorithms accepted by default: asymmetric
// ones only.
var DefaultAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.RS256, jose.PS256}

// Config of a Verifier. Zero values take the defaults.
type Config struct {
	// Algs is the allow-list of proof algorithms; never none nor HS*.
	Algs []jose.SignatureAlgorithm
	// A proof's iat must lie within [now-Window, now+Skew].
	Window, Skew time.Duration
	// MaxReplayEntries bounds the replay cache; MaxPerKey bounds the jtis
	// remembered for one key (per key thumbprint, so that one client
	// cannot take all of it). When full, new proofs are refused rather
	// than unexpired entries forgotten (which would allow a replay).
	MaxReplayEntries, MaxPerKey int
	Now                         func() time.Time
}

// Verifier checks proofs; it is safe for concurrent use.
type Verifier struct {
	algs         []jose.SignatureAlgorithm
	window, skew time.Duration
	now          func() time.Time
	replay       *replayCache
}

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{algs: cfg.Algs, window: cfg.Window, skew: cfg.Skew, now: cfg.Now}
	if len(v.algs) == 0 {
		v.algs = DefaultAlgs
	}
	for _, a := range v.algs {
		if !slices.Contains(DefaultAlgs, a) && a != jose.ES512 && a != jose.RS384 && a != jose.RS512 && a != jose.PS384 && a != jose.PS512 {
			return nil, fmt.Errorf("DPoP proof algorithm %q is not an asymmetric JWS algorithm", a)
		}
	}
	if v.window == 0 {
		v.window = DefaultWindow
	}
	if v.skew == 0 {
		v.skew = DefaultSkew
	}
	if v.window < 0 || v.skew < 0 {
		return nil, errors.New("DPoP window and skew must not be negative")
	}
	if v.now == nil {
		v.now = time.Now
	}
	entries, perKey := cfg.MaxReplayEntries, cfg.MaxPerKey
	if entries == 0 {
		entries = DefaultMaxReplayEntries
	}
	if perKey == 0 {
		perKey = DefaultMaxPerKey
	}
	if entries < 1 || perKey < 1 {
		return nil, errors.New("DPoP replay cache bounds must be positive")
	}
	v.replay = newReplayCache(entries, perKey)
	return v, nil
}

// Algs returns the allow-list, for metadata (dpop_signing_alg_values_supported)
// and for the algs parameter of a DPoP challenge.
func (v *Verifier) Algs() []string {
	out := make([]string, len(v.algs))
	for i, a := range v.algs {
		out[i] = string(a)
	}
	return out
}

// Proof is what a checked proof tells.
type Proof struct {
	JKT      string // RFC 7638 SHA-256 thumbprint of the proof's key, base64url
	JTI      string
	IssuedAt time.Time
}

// ErrInvalidProof is wrapped by every refusal; Reason tells which check
// failed.
var ErrInvalidProof = errors.New("invalid DPoP proof")

// refusal is a failed check: a fixed reason label and a message that
// quotes nothing of the request.
type refusal struct{ reason, msg string }

func (r *refusal) Error() string        { return "invalid DPoP proof: " + r.msg }
func (r *refusal) Is(target error) bool { return target == ErrInvalidProof }

func refuse(reason, msg string) error { return &refusal{reason: reason, msg: msg} }

// Reason returns the fixed label of a refusal, for metrics: malformed,
// too_large, typ, alg, jwk, signature, claims, htm, htu, iat, ath, jkt,
// replay or cache_full; "" for another error.
func Reason(err error) string {
	var r *refusal
	if errors.As(err, &r) {
		return r.reason
	}
	return ""
}

// FromRequest returns the DPoP header's one value; ok is false when there
// is none, and several or an empty one is an error (RFC 9449 §4.3 step 1).
func FromRequest(h http.Header) (proof string, ok bool, err error) {
	values := h.Values("DPoP")
	switch {
	case len(values) == 0:
		return "", false, nil
	case len(values) > 1:
		return "", true, refuse("malformed", "more than one DPoP header")
	case strings.TrimSpace(values[0]) == "":
		return "", true, refuse("malformed", "empty DPoP header")
	}
	return strings.TrimSpace(values[0]), true, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of a public key,
// base64url without padding.
func Thumbprint(k *jose.JSONWebKey) (string, error) {
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// ATH is the ath claim that binds a proof to accessToken (§4.2).
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// claims are a proof's payload (§4.2). IssuedAt is a number; anything else
// fails to decode.
type claims struct {
	JTI *string  `json:"jti"`
	HTM *string  `json:"htm"`
	HTU *string  `json:"htu"`
	IAT *float64 `json:"iat"`
	ATH *string  `json:"ath"`
}

// Check checks proof for a request with method to htu (the server's own
// idea of the request's external URL; query and fragment are ignored).
// With accessToken it also checks ath, and with wantJKT that the proof's
// key is the one the token is bound to. A proof that passes is recorded:
// the same jti by the same key is refused until it is too old anyway.
func (v *Verifier) Check(proof, method string, htu *url.URL, accessToken, wantJKT string) (Proof, error) {
	if len(proof) > MaxProofBytes {
		return Proof{}, refuse("too_large", "proof too large")
	}
	jws, err := jose.ParseSignedCompact(proof, v.algs)
	if err != nil {
		// go-jose refuses, while parsing, an algorithm off the list and an
		// embedded jwk that is not a valid public key (private or
		// symmetric material, a point off its curve): tell them apart for
		// the metrics without quoting its message. go-jose has no error
		// type for the jwk, so its messages are matched; the private and
		// symmetric jwk tests fail if they change.
		var badAlg *jose.ErrUnexpectedSignatureAlgorithm
		switch msg := err.Error(); {
		case errors.As(err, &badAlg):
			return Proof{}, refuse("alg", "algorithm not allowed")
		case strings.Contains(msg, "failed to unmarshal JWK"), strings.Contains(msg, "invalid embedded jwk"):
			return Proof{}, refuse("jwk", "jwk header is not a public key")
		}
		return Proof{}, refuse("malformed", "not a compact JWS")
	}
	if len(jws.Signatures) != 1 {
		return Proof{}, refuse("malformed", "not exactly one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return Proof{}, refuse("typ", "typ is not dpop+jwt")
	}
	if !slices.Contains(v.algs, jose.SignatureAlgorithm(h.Algorithm)) {
		return Proof{}, refuse("alg", "algorithm not allowed")
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
		return Proof{}, refuse("jwk", "jwk header missing, invalid or not a public key")
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return Proof{}, refuse("signature", "signature does not verify with the jwk")
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil || c.JTI == nil || c.HTM == nil || c.HTU == nil || c.IAT == nil ||
		*c.JTI == "" || len(*c.JTI) > maxJTIBytes {
		return Proof{}, refuse("claims", "jti, htm, htu and iat are required")
	}
	if *c.HTM != method {
		return Proof{}, refuse("htm", "htm is not the request's method")
	}
	got, err := url.Parse(*c.HTU)
	if err != nil || !SameTarget(got, htu) {
		return Proof{}, refuse("htu", "htu is not the request's URL")
	}
	now := v.now()
	iat := time.Unix(0, int64(*c.IAT*float64(time.Second)))
	if iat.Before(now.Add(-v.window)) || iat.After(now.Add(v.skew)) {
		return Proof{}, refuse("iat", "iat outside the accepted window")
	}
	if accessToken != "" {
		if c.ATH == nil || subtle.ConstantTimeCompare([]byte(*c.ATH), []byte(ATH(accessToken))) != 1 {
			return Proof{}, refuse("ath", "ath does not match the access token")
		}
	}
	jkt, err := Thumbprint(jwk)
	if err != nil {
		return Proof{}, refuse("jwk", "no thumbprint for the jwk")
	}
	if wantJKT != "" && subtle.ConstantTimeCompare([]byte(jkt), []byte(wantJKT)) != 1 {
		return Proof{}, refuse("jkt", "proof key is not the one the token is bound to")
	}
	// Remembered until it would be refused as too old anyway.
	if err := v.replay.add(jkt, *c.JTI, iat.Add(v.window+v.skew), now); err != nil {
		return Proof{}, err
	}
	return Proof{JKT: jkt, JTI: *c.JTI, IssuedAt: iat}, nil
}

// SameTarget compares two URLs as §4.3 requires of htu: without query and
// fragment, after syntax- and scheme-based normalization (RFC 3986 §6.2.2,
// §6.2.3): case of scheme and host, default ports, an empty path as "/",
// and percent-encoding.
func SameTarget(a, b *url.URL) bool {
	return a != nil && b != nil && normalize(a) == normalize(b)
}

func normalize(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	if u.User != nil {
		host = u.User.String() + "@" + host
	}
	path := normalizePercent(u.EscapedPath())
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path
}

// normalizePercent decodes the percent-encoded unreserved characters of
// an escaped path and upper-cases the hex of the others (RFC 3986
// §6.2.2.1, §6.2.2.2). Reserved characters keep their form: /a%2Fb is not
// /a/b, and /a%21b is not /a!b.
func normalizePercent(escaped string) string {
	if !strings.Contains(escaped, "%") {
		return escaped
	}
	var b strings.Builder
	b.Grow(len(escaped))
	for i := 0; i < len(escaped); i++ {
		if escaped[i] != '%' || i+2 >= len(escaped) {
			b.WriteByte(escaped[i])
			continue
		}
		c, ok := unhex(escaped[i+1], escaped[i+2])
		switch {
		case !ok:
			b.WriteByte('%')
			continue
		case unreserved(c):
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(escaped[i+1 : i+3]))
		}
		i += 2
	}
	return b.String()
}

func unhex(hi, lo byte) (byte, bool) {
	h, ok1 := hexValue(hi)
	l, ok2 := hexValue(lo)
	return h<<4 | l, ok1 && ok2
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unreserved is RFC 3986 §2.3.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// replayCache remembers (key, jti) pairs until they expire. It never
// forgets an unexpired pair to make room: when full it refuses.
type replayCache struct {
	mu         sync.Mutex
	maxEntries int
	maxPerKey  int
	seen       map[replayKey]int64 // expiry, unix nanoseconds
	perKey     map[uint64]int      // by a hash of the key's thumbprint
	// order is the insertion order, so that expired entries are swept
	// from the front: every entry lives Window+Skew, so insertion order
	// is nearly expiry order. order[head:] are the live entries.
	order []replayEntry
	head  int
}

// replayKey is 128 bits of SHA-256 over the key's thumbprint and the jti:
// a fixed size whatever the jti, and no collision in practice.
type replayKey [16]byte

func newReplayKey(jkt, jti string) replayKey {
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var k replayKey
	copy(k[:], h.Sum(nil))
	return k
}

type replayEntry struct {
	key     replayKey
	jkt     uint64 // a hash of the key's thumbprint
	expires int64  // unix nanoseconds
}

// jktHash is what proofs are counted under per key.
func jktHash(jkt string) uint64 {
	sum := sha256.Sum256([]byte(jkt))
	return binary.BigEndian.Uint64(sum[:8])
}

func newReplayCache(maxEntries, maxPerKey int) *replayCache {
	return &replayCache{maxEntries: maxEntries, maxPerKey: maxPerKey,
		seen: make(map[replayKey]int64), perKey: make(map[uint64]int)}
}

func (c *replayCache) add(jkt, jti string, expires, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	k, owner, exp := newReplayKey(jkt, jti), jktHash(jkt), expires.UnixNano()
	e, ok := c.seen[k]
	switch {
	case ok && now.UnixNano() < e:
		return refuse("replay", "proof already used")
	case ok:
		// Expired but not swept yet (an entry in front of it lives
		// longer): the pair keeps its slot and its count, and only the
		// newer order entry will release them, since sweep skips an
		// order entry whose expiry is no longer the pair's.
	case len(c.seen) >= c.maxEntries || c.perKey[owner] >= c.maxPerKey:
		return refuse("cache_full", "too many recent proofs; retry shortly")
	default:
		c.perKey[owner]++
	}
	c.seen[k] = exp
	c.order = append(c.order, replayEntry{key: k, jkt: owner, expires: exp})
	return nil
}

// sweep drops the expired entries at the front of the order: amortised
// O(1) per add.
func (c *replayCache) sweep(now time.Time) {
	t := now.UnixNano()
	for ; c.head < len(c.order) && t >= c.order[c.head].expires; c.head++ {
		e := c.order[c.head]
		c.order[c.head] = replayEntry{}
		if exp, ok := c.seen[e.key]; ok && exp == e.expires {
			delete(c.seen, e.key)
			if c.perKey[e.jkt]--; c.perKey[e.jkt] <= 0 {
				delete(c.perKey, e.jkt)
			}
		}
	}
	// Move the live entries down once the dead prefix is the larger part.
	if c.head > 1024 && c.head > len(c.order)/2 {
		n := copy(c.order, c.order[c.head:])
		clear(c.order[n:])
		c.order, c.head = c.order[:n], 0
	}
}
