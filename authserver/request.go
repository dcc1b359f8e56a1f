package authserver

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/example/authsvc/store"
)

// readForm parses a POST body of application/x-www-form-urlencoded
// parameters, the only encoding RFC 6749 §3.2, RFC 7662 §2.1 and RFC 7009
// §2.1 allow. Parameters in the URL query are refused: they end up in logs
// and proxies. A repeated parameter is refused (RFC 6749 §3.2).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.URL.RawQuery != "" {
		return nil, errInvalidRequest("parameters must be sent in the request body, not in the URL")
	}
	// The exact value, as every client sends it, skips the parser and its
	// allocations.
	if ct := r.Header.Get("Content-Type"); ct != formType {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != formType {
			return nil, errInvalidRequest("the body must be application/x-www-form-urlencoded")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &oauthError{status: http.StatusRequestEntityTooLarge, code: "invalid_request", description: "request body too large"}
		}
		return nil, &oauthError{status: http.StatusBadRequest, code: "invalid_request", description: "could not read the request body", cause: err}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errInvalidRequest("malformed form body")
	}
	// error_description allows no quotes or backslashes (RFC 6749 §5.2),
	// and echoing input teaches nothing: name only parameters we know.
	for k, v := range form {
		if len(v) > 1 && !repeatable[k] {
			if slices.Contains(knownParams, k) {
				return nil, errInvalidRequest("parameter " + k + " is repeated")
			}
			return nil, errInvalidRequest("a parameter is repeated")
		}
	}
	return form, nil
}

const formType = "application/x-www-form-urlencoded"

// repeatable parameters may appear more than once: RFC 8707 §2 resource.
var repeatable = map[string]bool{"resource": true}

var knownParams = []string{
	"grant_type", "username", "password", "scope", "refresh_token",
	"client_id", "client_secret", "token", "token_type_hint",
	"code", "redirect_uri", "code_verifier", "device_code",
}

// clientCredentials is how a client presented itself.
type clientCredentials struct {
	id, secret string
}

// extractClient reads client credentials from HTTP Basic or the body
// (client_secret_post), or a bare client_id for public clients. Using both
// methods at once is invalid_request (RFC 6749 §2.3).
func extractClient(r *http.Request, form url.Values) (clientCredentials, error) {
	_, hasAuthz := r.Header["Authorization"]
	if !hasAuthz {
		return clientCredentials{id: form.Get("client_id"), secret: form.Get("client_secret")}, nil
	}
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		e := errInvalidClient()
		e.description = "malformed Authorization header; use HTTP Basic"
		return clientCredentials{}, e
	}
	// RFC 6749 §3.2: a parameter sent without a value is omitted.
	if form.Get("client_secret") != "" {
		return clientCredentials{}, errInvalidRequest("client credentials sent both in the Authorization header and in the body")
	}
	// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic
	// encoding; go-oauth2 skips this and so breaks secrets with + / = % :.
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil {
		e := errInvalidClient()
		e.description = "malformed client credentials in the Authorization header"
		return clientCredentials{}, e
	}
	if form.Get("client_id") != "" && form.Get("client_id") != id {
		return clientCredentials{}, errInvalidRequest("client_id in the body does not match the Authorization header")
	}
	return clientCredentials{id: id, secret: secret}, nil
}

// admit refuses a source that has used up its failures (429), before
// anything is read from the store.
func (s *server) admit(r *http.Request) (netip.Addr, error) {
	src := s.sources.source(r)
	if retry, blocked := s.throttle.blocked(src); blocked {
		return src, errThrottled(retry)
	}
	return src, nil
}

// authenticateClient authenticates the caller of the token, introspection
// or revocation endpoint. It runs before anything else a request asks for,
// so nobody reaches the password check without valid client credentials.
// Every failure counts against the source's throttle. It also returns the
// secret presented, which go-oauth2's manager verifies once more (a hash
// comparison, cheap) when it issues the token.
func (s *server) authenticateClient(r *http.Request, form url.Values, src netip.Addr) (store.Client, string, error) {
	return s.authenticateClientWith(r, form, src, func(id string) (store.Client, error) {
		return s.store.GetClient(r.Context(), id)
	})
}

// authenticateClientWith is authenticateClient with the client read by
// load, which introspection uses to read the token in the same query. load
// is called only with a well-formed client id.
func (s *server) authenticateClientWith(r *http.Request, form url.Values, src netip.Addr, load func(id string) (store.Client, error)) (store.Client, string, error) {
	c, secret, err := s.lookUpClient(r, form, load)
	var oe *oauthError
	if errors.As(err, &oe) && oe.code == "invalid_client" {
		s.throttle.fail(src)
	}
	return c, secret, err
}

func (s *server) lookUpClient(r *http.Request, form url.Values, load func(id string) (store.Client, error)) (store.Client, string, error) {
	cc, err := extractClient(r, form)
	if err != nil {
		return store.Client{}, "", err
	}
	setLogClient(r.Context(), cc.id)
	// A malformed id is answered as an unknown one, and never reaches
	// the store.
	if store.ValidateClientID(cc.id) != nil {
		return store.Client{}, "", errInvalidClient()
	}
	c, err := load(cc.id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Client{}, "", errInvalidClient()
	}
	if err != nil {
		return store.Client{}, "", fmt.Errorf("load client: %w", err)
	}
	if !c.VerifySecret(cc.secret) {
		return store.Client{}, "", errInvalidClient()
	}
	return c, cc.secret, nil
}

// parseScope splits a scope parameter (RFC 6749 §3.3) into its distinct
// values, in order.
func parseScope(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range strings.Split(s, " ") {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// grantScope decides the scope of a new grant: the requested values, each
// allowed by `allowed`; nothing requested means all of `allowed`.
func grantScope(requested string, allowed []string) (string, error) {
	if len(requested) > store.MaxScopeBytes {
		return "", errInvalidScope("malformed scope")
	}
	if strings.TrimSpace(requested) == "" {
		return strings.Join(allowed, " "), nil
	}
	want := parseScope(requested)
	for _, v := range want {
		if err := store.ValidateScopeToken(v); err != nil {
			return "", errInvalidScope("malformed scope")
		}
		if !slices.Contains(allowed, v) {
			return "", errInvalidScope("a requested scope is not allowed for this client")
		}
	}
	return strings.Join(want, " "), nil
}
