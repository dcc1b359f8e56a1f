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
)

// callerKey is where authenticate leaves the Introspection for handlers.
const callerKey = "resource.caller"

// authenticate is the RFC 6750 bearer-token check in front of every item
// route: it finds the one token, has it introspected and refuses it unless
// it is an active access token with an owner.
func (s *server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		// Item answers are private to one caller.
		c.Header("Cache-Control", "no-store")
		token, err := bearerToken(c.Request)
		if err != nil {
			renderError(c, err)
			return
		}
		ctx := c.Request.Context()
		in, err := s.introspector.Introspect(ctx, token)
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
		if in.Owner() == "" {
			renderError(c, errInvalidToken(errors.New("introspection answer names neither username nor client_id")))
			return
		}
		c.Set(callerKey, in)
		c.Next()
	}
}

// unusableReason says, for the log only, why a token was refused.
func unusableReason(in Introspection, now time.Time) error {
	switch {
	case !in.Active:
		return errors.New("token inactive")
	case in.TokenUse != "access_token":
		return fmt.Errorf("token_use %q is not access_token", in.TokenUse)
	case in.TokenType != "" && !strings.EqualFold(in.TokenType, "Bearer"):
		return fmt.Errorf("token_type %q is not Bearer", in.TokenType)
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

// bearerToken finds the access token of r. Only the Authorization header
// (RFC 6750 §2.1) is supported: the form-body and URI-query methods
// (§2.2, §2.3) leak tokens into logs and histories (RFC 9700 §4.3.2), so a
// token sent that way is an unsupported parameter, and one sent in more than
// one way is invalid_request as §3.1 says.
func bearerToken(r *http.Request) (string, error) {
	// Most requests have no query string: parsing "" would still cost a
	// map.
	inQuery := false
	if r.URL.RawQuery != "" {
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return "", errInvalidRequest("the query string is malformed")
		}
		inQuery = query.Has("access_token")
	}
	inForm, err := formHasAccessToken(r)
	if err != nil {
		return "", err
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
		return "", errInvalidRequest("the access token must be sent in exactly one way")
	case inQuery || inForm:
		return "", errInvalidRequest("send the access token in the Authorization header; the access_token parameter is not supported")
	case ways == 0:
		return "", errNoCredentials()
	}

	scheme, rest, _ := strings.Cut(headers[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		if isToken(scheme) {
			// Another authentication scheme (Basic, ...): the request
			// lacks Bearer credentials, so the bare challenge (§3.1).
			return "", errNoCredentials()
		}
		return "", errInvalidRequest("the Authorization header is malformed")
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" {
		return "", errInvalidRequest("the Authorization header has no bearer token")
	}
	if !isB64token(token) {
		return "", errInvalidRequest("the bearer token is malformed")
	}
	// Our authorization server issues 43-character tokens. A huge one can
	// never be valid: refuse it here rather than forward it (the
	// authorization server would answer 413, which reads as an outage).
	if len(token) > maxTokenBytes {
		return "", errInvalidToken(errors.New("token longer than any issued"))
	}
	return token, nil
}

// maxTokenBytes bounds a bearer token worth asking the authorization server about.
const maxTokenBytes = 1024

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
