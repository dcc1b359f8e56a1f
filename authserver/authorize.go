package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/example/authsvc/store"
)

// The authorization endpoint (RFC 6749 §4.1, RFC 7636, RFC 9700 §2.1,
// RFC 9207): response_type=code only, PKCE S256 for every client, redirect
// URIs matched exactly (Client.MatchRedirectURI), and the issuer in every
// response.

// authzParams are the parameters of an authorization request that its
// forms carry from step to step (and that each step validates again).
var authzParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

// Bounds of an authorization request.
const (
	maxAuthorizeQuery = 8 << 10
	maxStateBytes     = 1024
)

// authzRequest is a validated authorization request.
type authzRequest struct {
	client      store.Client
	redirectURI string
	state       string
	scope       string // granted: the requested scope checked against the client's
	challenge   string
	raw         url.Values // the authzParams as sent, for the next form
}

// hidden is the request as hidden form fields.
func (a authzRequest) hidden() []hiddenField {
	var h []hiddenField
	for _, k := range authzParams {
		if v := a.raw.Get(k); v != "" {
			h = append(h, hiddenField{k, v})
		}
	}
	return h
}

// binding is what a form token of this request is bound to: every
// parameter, in a fixed order.
func (a authzRequest) binding() []string {
	b := make([]string, len(authzParams))
	for i, k := range authzParams {
		b[i] = a.raw.Get(k)
	}
	return b
}

// parseAuthorize validates an authorization request. An error that is a
// *pageError must be shown, never redirected: the client or the redirect
// URI is not one this server can trust (RFC 6749 §4.1.2.1). An *oauthError
// is redirected to the (then validated) redirect URI of a.
func (s *server) parseAuthorize(ctx context.Context, params url.Values) (authzRequest, error) {
	raw := url.Values{}
	for _, k := range authzParams {
		if v, ok := params[k]; ok {
			raw[k] = v
		}
	}
	if err := checkParams(raw); err != nil {
		return authzRequest{}, &pageError{status: http.StatusBadRequest, title: "Sign-in error",
			msg: "The sign-in request is malformed: a parameter is repeated or not valid text.", cause: err}
	}
	a := authzRequest{raw: raw}
	clientID := raw.Get("client_id")
	if store.ValidateClientID(clientID) != nil {
		return a, errPage(http.StatusBadRequest, "The application that sent you here is not known to this server.")
	}
	c, err := s.store.GetClient(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return a, errPage(http.StatusBadRequest, "The application that sent you here is not known to this server.")
	}
	if err != nil {
		return a, fmt.Errorf("load client: %w", err)
	}
	redirectURI := raw.Get("redirect_uri")
	if redirectURI == "" || !c.MatchRedirectURI(redirectURI) {
		return a, errPage(http.StatusBadRequest, "The application that sent you here asked to return to an address it has not registered.")
	}
	a.client, a.redirectURI = c, redirectURI
	if st := raw.Get("state"); len(st) <= maxStateBytes {
		a.state = st
	} else {
		return a, errInvalidRequest("state is too long")
	}

	switch rt := raw.Get("response_type"); {
	case rt == "":
		return a, errInvalidRequest("response_type is required")
	case rt != "code":
		return a, &oauthError{status: http.StatusBadRequest, code: "unsupported_response_type", description: "only response_type=code is supported"}
	}
	if !c.MayUse(store.GrantAuthorizationCode) {
		return a, &oauthError{status: http.StatusBadRequest, code: "unauthorized_client", description: "this client may not use the authorization code grant"}
	}
	// RFC 9700 §2.1.1: PKCE for every client; plain is refused, and so is
	// a challenge without a method, which RFC 7636 §4.3 reads as plain.
	switch {
	case raw.Get("code_challenge") == "":
		return a, errInvalidRequest("code_challenge is required (PKCE, S256)")
	case raw.Get("code_challenge_method") != "S256":
		return a, errInvalidRequest("code_challenge_method must be S256")
	case !store.ValidS256Challenge(raw.Get("code_challenge")):
		return a, errInvalidRequest("code_challenge is not an S256 challenge")
	}
	a.challenge = raw.Get("code_challenge")
	scope, err := grantScope(raw.Get("scope"), c.Scopes)
	if err != nil {
		return a, err
	}
	a.scope = scope
	return a, nil
}

// redirect sends the browser back to the client with params, state and
// iss (RFC 9207) added to the registered redirect URI's own query, which
// is kept as registered (RFC 6749 §3.1.2). 303, so that the client's
// endpoint is fetched with GET after a form POST (RFC 9700 §4.12).
func (s *server) redirect(w http.ResponseWriter, a authzRequest, params url.Values) {
	if a.state != "" {
		params.Set("state", a.state)
	}
	params.Set("iss", s.cfg.Issuer)
	target := a.redirectURI
	if i := len(target); i > 0 && (target[i-1] == '?' || target[i-1] == '&') {
		target += params.Encode()
	} else if u, err := url.Parse(target); err == nil && u.RawQuery != "" {
		target += "&" + params.Encode()
	} else {
		target += "?" + params.Encode()
	}
	setPageHeaders(w.Header())
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
}

// authorizeFailed answers a request parseAuthorize refused: a page, or a
// redirect with the error for a request whose client and redirect URI are
// sound (RFC 6749 §4.1.2.1).
func (s *server) authorizeFailed(w http.ResponseWriter, a authzRequest, err error) error {
	var oe *oauthError
	if a.redirectURI == "" || !errors.As(err, &oe) {
		return err
	}
	s.redirect(w, a, url.Values{"error": {oe.code}, "error_description": {oe.description}})
	return nil
}

// handleAuthorize is GET /authorize: the login page, or with a session the
// consent page, or with a consent already given the redirect with a code.
func (s *server) handleAuthorize(w http.ResponseWriter, r *http.Request) error {
	if len(r.URL.RawQuery) > maxAuthorizeQuery {
		return errPage(http.StatusRequestURITooLong, "The sign-in request is too long.")
	}
	params, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errPage(http.StatusBadRequest, "The sign-in request is malformed.")
	}
	a, err := s.parseAuthorize(r.Context(), params)
	if err != nil {
		return s.authorizeFailed(w, a, err)
	}
	user, ok, err := s.currentSession(r)
	if err != nil {
		return err
	}
	if !ok {
		return s.authorizeLoginPage(w, r, a, http.StatusOK, "", "")
	}
	return s.authorizeAs(w, r, a, user)
}

// handleAuthorizePost is POST /authorize: the login form's and the consent
// form's submissions. The request is validated again from the form: hidden
// fields are input like any other.
func (s *server) handleAuthorizePost(w http.ResponseWriter, r *http.Request) error {
	form, err := readPageForm(w, r)
	if err != nil {
		return err
	}
	a, err := s.parseAuthorize(r.Context(), form)
	if err != nil {
		return s.authorizeFailed(w, a, err)
	}
	switch form.Get("step") {
	case "login":
		if err := s.checkFormToken(r, form, "authorize-login", a.binding()...); err != nil {
			return err
		}
		user, failed, err := s.pageLogin(w, r, a.client.ID, form)
		if err != nil {
			return err
		}
		if failed != "" {
			return s.authorizeLoginPage(w, r, a, http.StatusOK, form.Get("username"), failed)
		}
		return s.authorizeAs(w, r, a, user)
	case "consent":
		user, ok, err := s.currentSession(r)
		if err != nil {
			return err
		}
		if !ok {
			// The session ended since the consent page was shown.
			return s.authorizeLoginPage(w, r, a, http.StatusOK, "", "Your session has ended. Please sign in again.")
		}
		if err := s.checkFormToken(r, form, "authorize-consent", append(a.binding(), user.Username)...); err != nil {
			return err
		}
		switch form.Get("decision") {
		case "allow":
			if err := s.rememberConsent(r.Context(), user.Username, a.client.ID, a.scope); err != nil {
				return err
			}
			s.audit(r.Context(), eventConsentGranted, "client_id", a.client.ID, "username", user.Username, "scope", a.scope)
			return s.issueCode(w, r, a, user)
		case "deny":
			s.audit(r.Context(), eventConsentDenied, "client_id", a.client.ID, "username", user.Username)
			s.redirect(w, a, url.Values{"error": {"access_denied"}, "error_description": {"the user denied the request"}})
			return nil
		}
	}
	return errPage(http.StatusBadRequest, "The form is malformed.")
}

func (s *server) authorizeLoginPage(w http.ResponseWriter, r *http.Request, a authzRequest, status int, username, failed string) error {
	secret := s.csrfSecret(w, r)
	return writePage(w, status, "login", page{
		Title: "Sign in", Error: failed, Action: "/authorize", ClientID: a.client.ID, Username: username,
		Hidden: a.hidden(), CSRF: formToken(secret, "authorize-login", a.binding()...),
		// A sign-in that needs no consent is redirected to the client
		// straight away.
		formTargets: []string{a.redirectURI},
	})
}

// authorizeAs continues a request for a signed-in user: consent if it is
// needed, else the code.
func (s *server) authorizeAs(w http.ResponseWriter, r *http.Request, a authzRequest, user store.User) error {
	needed, err := s.consentNeeded(r.Context(), a.client, user.Username, a.scope)
	if err != nil {
		return err
	}
	if !needed {
		return s.issueCode(w, r, a, user)
	}
	secret := s.csrfSecret(w, r)
	where, local := returnTo(a.redirectURI)
	return writePage(w, http.StatusOK, "consent", page{
		Title: "Allow access?", Action: "/authorize", ClientID: a.client.ID, Username: user.Username,
		Scopes: scopeList(a.scope), Hidden: a.hidden(), ReturnTo: where, ReturnToThisComputer: local,
		CSRF:        formToken(secret, "authorize-consent", append(a.binding(), user.Username)...),
		formTargets: []string{a.redirectURI},
	})
}

// issueCode stores a code bound to the request and the user and sends the
// browser back with it.
func (s *server) issueCode(w http.ResponseWriter, r *http.Request, a authzRequest, user store.User) error {
	code, err := store.NewOpaqueValue()
	if err != nil {
		return err
	}
	family, err := store.NewOpaqueValue()
	if err != nil {
		return err
	}
	now := s.now()
	err = s.store.CreateAuthCode(context.WithoutCancel(r.Context()), store.AuthCode{
		Hash:        store.HashToken(code),
		ClientID:    a.client.ID,
		Username:    user.Username,
		UserVersion: user.Version,
		RedirectURI: a.redirectURI,
		Challenge:   a.challenge,
		Scope:       a.scope,
		FamilyID:    family,
		IssuedAt:    now,
		ExpiresAt:   now.Add(store.AuthCodeTTL),
	})
	if err != nil {
		return fmt.Errorf("store authorization code: %w", err)
	}
	s.audit(r.Context(), eventCodeIssued, "client_id", a.client.ID, "username", user.Username)
	s.redirect(w, a, url.Values{"code": {code}})
	return nil
}
