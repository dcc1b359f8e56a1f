package resource

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// realm is the protection space named in every Bearer challenge.
const realm = "items"

// retryAfterSeconds is what a 503 asks the caller to wait: long enough for a
// restarting authorization server, short enough for a blip.
const retryAfterSeconds = 5

// Error codes of the JSON body. The RFC 6750 §3.1 ones also go into the
// WWW-Authenticate challenge; the others describe non-OAuth failures.
const (
	codeInvalidRequest     = "invalid_request"
	codeInvalidToken       = "invalid_token"
	codeInvalidDPoPProof   = "invalid_dpop_proof" // RFC 9449 §7.1
	codeInsufficientScope  = "insufficient_scope"
	codeUnauthorized       = "unauthorized"
	codeNotFound           = "not_found"
	codeMethodNotAllowed   = "method_not_allowed"
	codeTooLarge           = "request_too_large"
	codeUnsupportedMedia   = "unsupported_media_type"
	codeQuotaExceeded      = "quota_exceeded"
	codeUnavailable        = "temporarily_unavailable"
	codeServerError        = "server_error"
	descriptionServerError = "internal server error"
)

// apiError is every failure a handler or middleware returns: what the client
// sees, what only the log sees, and the headers that go with it. renderError
// is the one place that turns it into a response.
type apiError struct {
	status      int
	code        string
	description string
	cause       error // logged, never shown
	// challenge adds WWW-Authenticate: Bearer (RFC 6750 §3); with an empty
	// code it is the bare challenge of a request without credentials.
	challenge bool
	scope     string // the scope an insufficient_scope challenge names
	retry     bool   // adds Retry-After
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.code + ": " + e.description + ": " + e.cause.Error()
	}
	return e.code + ": " + e.description
}

func (e *apiError) Unwrap() error { return e.cause }

func errBadRequest(description string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalidRequest, description: description}
}

func errNotFound(description string) *apiError {
	return &apiError{status: http.StatusNotFound, code: codeNotFound, description: description}
}

func errUnavailable(description string, cause error) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, description: description, cause: cause, retry: true}
}

func errTooLarge() *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge, description: fmt.Sprintf("the request body is larger than %d bytes", maxBodyBytes)}
}

// tooLarge reports whether err comes from the http.MaxBytesReader limit.
func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// RFC 6750 §3 errors.

// errNoCredentials: "the request lacks any authentication information";
// the challenge carries no error code (RFC 6750 §3.1).
func errNoCredentials() *apiError {
	return &apiError{status: http.StatusUnauthorized, code: codeUnauthorized, description: "a bearer token is required", challenge: true}
}

func errInvalidRequest(description string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalidRequest, description: description, challenge: true}
}

// errInvalidToken never says why: expired, revoked, unknown and refresh
// tokens all look the same to the caller (the log has the cause).
func errInvalidToken(cause error) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: codeInvalidToken, description: "the access token is invalid", cause: cause, challenge: true}
}

// errInvalidProof: the DPoP proof of a request with a bound token is
// missing or fails a check; the log has which.
func errInvalidProof(cause error) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: codeInvalidDPoPProof, description: "the DPoP proof is missing or invalid", cause: cause, challenge: true}
}

func errInsufficientScope(scope string) *apiError {
	return &apiError{status: http.StatusForbidden, code: codeInsufficientScope, description: "the access token lacks scope " + scope, challenge: true, scope: scope}
}

// renderError writes err as the JSON error body with its status and
// headers, and records it for the request log. Anything that is not an
// apiError is a 500 whose cause is logged, never shown.
func renderError(c *gin.Context, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		e = &apiError{status: http.StatusInternalServerError, code: codeServerError, description: descriptionServerError, cause: err}
	}
	if e.cause != nil || e.status >= 500 {
		_ = c.Error(err)
	}
	h := c.Writer.Header()
	h.Set("Cache-Control", "no-store")
	if e.challenge {
		scheme := c.GetString(schemeKey)
		algs := c.GetString(dpopAlgsKey)
		switch {
		case e.code == codeUnauthorized || scheme == "":
			// No usable credentials: either scheme will do (RFC 9449
			// §7.1).
			h.Set("WWW-Authenticate", challenge(schemeBearer, e, ""))
			if algs != "" {
				h.Add("WWW-Authenticate", challenge(schemeDPoP, &apiError{code: codeUnauthorized}, algs))
			}
		case scheme == schemeDPoP || e.code == codeInvalidDPoPProof:
			h.Set("WWW-Authenticate", challenge(schemeDPoP, e, algs))
		default:
			h.Set("WWW-Authenticate", challenge(schemeBearer, e, ""))
		}
	}
	if e.retry {
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	c.AbortWithStatusJSON(e.status, gin.H{"error": e.code, "error_description": e.description})
}

// Where authenticate leaves, for renderError, the scheme the request
// used and the DPoP algorithms to name in a challenge.
const (
	schemeKey   = "resource.scheme"
	dpopAlgsKey = "resource.dpop_algs"
)

// challenge builds the RFC 6750 §3 / RFC 9449 §7.1 WWW-Authenticate value
// of scheme; algs is the DPoP algs parameter, "" to leave it out.
func challenge(scheme string, e *apiError, algs string) string {
	var b strings.Builder
	b.WriteString(scheme + ` realm="` + realm + `"`)
	if algs != "" {
		b.WriteString(`, algs="` + algs + `"`)
	}
	if e.code == codeUnauthorized {
		return b.String()
	}
	b.WriteString(`, error="` + e.code + `"`)
	if e.description != "" {
		b.WriteString(`, error_description="` + quotable(e.description) + `"`)
	}
	if e.scope != "" {
		b.WriteString(`, scope="` + quotable(e.scope) + `"`)
	}
	return b.String()
}

// quotable drops what RFC 6750 §3 forbids inside error_description and
// scope: anything outside %x20-21 / %x23-5B / %x5D-7E (so no '"' or '\').
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
