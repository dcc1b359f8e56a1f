package resource

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/example/authsvc/authserver/dpop"
	"github.com/example/authsvc/store"
)

// callerKey is where authenticate leaves the Introspection for handlers.
const callerKey = "resource.caller"

// authenticate is the RFC 6750 / RFC 9449 token check in front of every
// item route: it finds the one token, has it checked (introspected, or
// verified locally in jwt mode) and refuses it unless it is an active
// access token for this resource, with an owner, and, when it is bound to
// a DPoP key, presented under the DPoP scheme with a valid proof by that
// key.
func (s *server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		// Item answers are private to one caller.
		c.Header("Cache-Control", "no-store")
		c.Set(dpopAlgsKey, s.dpopAlgs)
		cred, err := credentials(c.Request)
		if err != nil {
			renderError(c, err)
			return
		}
		c.Set(schemeKey, cred.scheme)
		ctx := c.Request.Context()
		in, err := s.introspector.Introspect(ctx, cred.token)
		if err != nil {
			if errors.Is(err, ErrClientRejected) {
				s.logger.ErrorContext(ctx, "configuration error: the authorization server rejected this service's client credentials; check the client id and secret",
					"request_id", requestID(c), "err", err)
			}
			// Fail closed, and say why: the token was not checked, so it is
			// neither accepted nor called invalid.
			renderError(c, errUnavailable("the authorization server could not check the access token; retry later", err))
			return
		}
		now := s.now()
		if !in.usable(now) {
			renderError(c, errInvalidToken(unusableReason(in, now)))
			return
		}
		if !in.For(s.audience) {
			renderError(c, errInvalidToken(errors.New("the token is for another audience")))
			return
		}
		if !in.hasOwner() {
			renderError(c, errInvalidToken(errors.New("introspection answer names neither username nor client_id")))
			return
		}
		if err := s.checkBinding(c.Request, cred, in); err != nil {
			renderError(c, err)
			return
		}
		c.Set(callerKey, in)
		c.Next()
	}
}

// checkBinding enforces RFC 9449 §7: a token bound to a key is accepted
// only under the DPoP scheme with a proof for this request, signed by that
// key and bound to the token (ath); a token that is not bound is refused
// under the DPoP scheme.
func (s *server) checkBinding(r *http.Request, cred credential, in Introspection) error {
	switch {
	case in.JKT == "" && cred.scheme == schemeDPoP:
		s.metrics.dpopRefusal("unbound")
		return errInvalidToken(errors.New("a token not bound to a key, sent under the DPoP scheme"))
	case in.JKT == "":
		return nil
	case cred.scheme != schemeDPoP:
		// §7.2: never accepted as a bearer token.
		s.metrics.dpopRefusal("bearer_use")
		return errInvalidToken(errors.New("a DPoP-bound token sent as a bearer token"))
	}
	proof, present, err := dpop.FromRequest(r.Header)
	if err == nil && !present {
		s.metrics.dpopRefusal("missing")
		return errInvalidProof(errors.New("no DPoP proof"))
	}
	if err == nil {
		_, err = s.proofs.Check(proof, r.Method, s.requestURL(r), cred.token, in.JKT)
	}
	if err != nil {
		s.metrics.dpopRefusal(dpop.Reason(err))
		return errInvalidProof(err)
	}
	return nil
}

// requestURL is the URL a proof's htu must name: the configured public
// URL with the request's path, or else the URL as the request reached
// this service.
func (s *server) requestURL(r *http.Request) *url.URL {
	if s.publicURL != nil {
		u := *s.publicURL
		u.Path = strings.TrimSuffix(u.Path, "/") + r.URL.Path
		u.RawPath = ""
		return &u
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path}
}

// unusableReason says, for the log only, why a token was refused.
func unusableReason(in Introspection, now time.Time) error {
	switch {
	case !in.Active && in.refusal != "":
		return errors.New("token refused: " + in.refusal)
	case !in.Active:
		return errors.New("token inactive")
	case in.TokenUse != "access_token":
		return fmt.Errorf("token_use %q is not access_token", in.TokenUse)
	case in.TokenType != "" && !strings.EqualFold(in.TokenType, "Bearer") && !strings.EqualFold(in.TokenType, "DPoP"):
		return errors.New("token_type is neither Bearer nor DPoP")
	default:
		return fmt.Errorf("token expired at %s", in.ExpiresAt.Format(time.RFC3339))
	}
}

// requireScope refuses a caller whose token lacks scope (RFC 6750 §3.1).
func requireScope(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !caller(c).HasScope(scope) {
			renderError(c, errInsufficientScope(scope))
			return
		}
		c.Next()
	}
}

// caller is the Introspection authenticate accepted.
func caller(c *gin.Context) Introspection {
	in, _ := c.Get(callerKey)
	v, _ := in.(Introspection)
	return v
}

// Authorization schemes of a protected request.
const (
	schemeBearer = "Bearer" // RFC 6750
	schemeDPoP   = "DPoP"   // RFC 9449 §7.1
)

// credential is the access token of a request and the scheme it came
// under.
type credential struct {
	token, scheme string
}

// credentials finds the access token of r. Only the Authorization header
// (RFC 6750 §2.1, RFC 9449 §7.1) is supported: the form-body and
// URI-query methods (§2.2, §2.3) leak tokens into logs and histories
// (RFC 9700 §4.3.2), so a token sent that way is an unsupported parameter,
// and one sent in more than one way is invalid_request as §3.1 says.
func credentials(r *http.Request) (credential, error) {
	// Most requests have no query string: parsing "" would still cost a
	// map.
	inQuery := false
	if r.URL.RawQuery != "" {
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return credential{}, errInvalidRequest("the query string is malformed")
		}
		inQuery = query.Has("access_token")
	}
	inForm, err := formHasAccessToken(r)
	if err != nil {
		return credential{}, err
	}
	headers := r.Header.Values("Authorization")
	ways := len(headers)
	if inQuery {
		ways++
	}
	if inForm {
		ways++
	}
	switch {
	case ways > 1:
		return credential{}, errInvalidRequest("the access token must be sent in exactly one way")
	case inQuery || inForm:
		return credential{}, errInvalidRequest("send the access token in the Authorization header; the access_token parameter is not supported")
	case ways == 0:
		return credential{}, errNoCredentials()
	}

	scheme, rest, _ := strings.Cut(headers[0], " ")
	switch {
	case strings.EqualFold(scheme, schemeBearer):
		scheme = schemeBearer
	case strings.EqualFold(scheme, schemeDPoP):
		scheme = schemeDPoP
	case isToken(scheme):
		// Another authentication scheme (Basic, ...): the request
		// lacks our credentials, so the bare challenge (§3.1).
		return credential{}, errNoCredentials()
	default:
		return credential{}, errInvalidRequest("the Authorization header is malformed")
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" {
		return credential{}, errInvalidRequest("the Authorization header has no access token")
	}
	if !isB64token(token) {
		return credential{}, errInvalidRequest("the access token is malformed")
	}
	// No token of ours is longer: refuse a huge one here rather than
	// forward it (the authorization server would answer 413, which reads
	// as an outage).
	if len(token) > maxTokenBytes {
		return credential{}, errInvalidToken(errors.New("token longer than any issued"))
	}
	return credential{token: token, scheme: scheme}, nil
}

// maxTokenBytes bounds a token worth checking: the authorization
// server's bound.
const maxTokenBytes = store.MaxTokenBytes

// formHasAccessToken reports whether a form-encoded body carries
// access_token. Only such bodies are parsed; item bodies are JSON.
func formHasAccessToken(r *http.Request) (bool, error) {
	contentType := r.Header.Get("Content-Type")
	if contentType == "" {
		return false, nil
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/x-www-form-urlencoded" {
		return false, nil
	}
	if err := r.ParseForm(); err != nil {
		if tooLarge(err) {
			return false, errTooLarge()
		}
		return false, errInvalidRequest("the form body is malformed")
	}
	return r.PostForm.Has("access_token"), nil
}

// isB64token checks RFC 6750 §2.1:
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !(isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// isToken checks the RFC 9110 §5.6.2 token syntax of an auth-scheme.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
