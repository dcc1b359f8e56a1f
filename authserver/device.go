package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/example/authsvc/store"
)

// The device authorization grant (RFC 8628): a device asks for a code pair
// at /device_authorization, shows the user code, and polls /token while
// its user approves at /device in a browser.

// deviceAuthResponse is RFC 8628 §3.2.
type deviceAuthResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// handleDeviceAuthorization is POST /device_authorization (RFC 8628 §3.1):
// the client authenticates as at the token endpoint (a public client by
// its client_id alone).
func (s *server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r)
	if err != nil {
		return err
	}
	src, err := s.admit(r)
	if err != nil {
		return err
	}
	client, _, err := s.authenticateClient(r, form, src)
	if err != nil {
		return err
	}
	if !client.MayUse(store.GrantDeviceCode) {
		return &oauthError{status: http.StatusBadRequest, code: "unauthorized_client", description: "this client may not use the device authorization grant"}
	}
	// Each authorization is a row that lives DeviceCodeTTL: a source
	// may start as many as it may fail logins, and no more.
	if retry, blocked := s.deviceStarts.blocked(src); blocked {
		return errThrottled(retry)
	}
	s.deviceStarts.fail(src)
	scope, err := grantScope(form.Get("scope"), client.Scopes)
	if err != nil {
		return err
	}
	deviceCode, err := store.NewOpaqueValue()
	if err != nil {
		return err
	}
	family, err := store.NewOpaqueValue()
	if err != nil {
		return err
	}
	now := s.now()
	ctx := context.WithoutCancel(r.Context())
	var userCode string
	// A user code collides with a live one once in 2^34 or so; a few
	// tries make a failure from that impossible in practice.
	for try := 0; ; try++ {
		if userCode, err = store.NewUserCode(); err != nil {
			return err
		}
		err = s.store.CreateDeviceGrant(ctx, store.DeviceGrant{
			Hash: store.HashToken(deviceCode), UserCodeHash: store.HashToken(userCode),
			ClientID: client.ID, Scope: scope, IssuedAt: now, ExpiresAt: now.Add(s.cfg.DeviceCodeTTL),
			Interval: s.cfg.DevicePollInterval, Status: store.DevicePending, FamilyID: family,
		})
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrAlreadyExists) || try == 3 {
			return fmt.Errorf("store device authorization: %w", err)
		}
	}
	s.audit(r.Context(), eventDeviceAuthorizationStarted, "client_id", client.ID)
	shown := store.FormatUserCode(userCode)
	writeJSON(w, http.StatusOK, deviceAuthResponse{
		DeviceCode:              deviceCode,
		UserCode:                shown,
		VerificationURI:         s.endpoint("/device"),
		VerificationURIComplete: s.endpoint("/device") + "?" + url.Values{"user_code": {shown}}.Encode(),
		ExpiresIn:               int64(s.cfg.DeviceCodeTTL.Seconds()),
		Interval:                int64(s.cfg.DevicePollInterval.Seconds()),
	})
	return nil
}

// handleDevicePage is GET /device: the form for the user code, filled in
// from verification_uri_complete.
func (s *server) handleDevicePage(w http.ResponseWriter, r *http.Request) error {
	shown := ""
	if code, ok := store.NormalizeUserCode(r.URL.Query().Get("user_code")); ok {
		shown = store.FormatUserCode(code)
	}
	return s.deviceCodePage(w, r, http.StatusOK, shown, "")
}

func (s *server) deviceCodePage(w http.ResponseWriter, r *http.Request, status int, shown, failed string) error {
	secret := s.csrfSecret(w, r)
	return writePage(w, status, "device", page{Title: "Connect a device", Error: failed, UserCode: shown,
		CSRF: formToken(secret, "device-code")})
}

// errUnknownUserCode is what the page says of a user code that is not
// pending: unknown, expired, decided already, or mistyped.
const errUnknownUserCode = "That code is not valid or has expired. Check the code your device shows."

// handleDevice is POST /device: the code, then the login if there is no
// session, then the approval. Every step looks the user code up again, and
// a miss counts against the source's throttle: guessing codes is as
// limited as guessing passwords (RFC 8628 §5.1).
func (s *server) handleDevice(w http.ResponseWriter, r *http.Request) error {
	form, err := readPageForm(w, r)
	if err != nil {
		return err
	}
	src, err := s.admit(r)
	if err != nil {
		return err
	}
	step := form.Get("step")
	code, ok := store.NormalizeUserCode(form.Get("user_code"))
	switch step {
	case "code":
		err = s.checkFormToken(r, form, "device-code")
	case "login":
		err = s.checkFormToken(r, form, "device-login", code)
	case "consent":
		// The username is checked below, against the session.
	default:
		return errPage(http.StatusBadRequest, "The form is malformed.")
	}
	if err != nil {
		return err
	}
	d, found, err := s.deviceByUserCode(r.Context(), src, code, ok)
	if err != nil {
		return err
	}
	if !found {
		return s.deviceCodePage(w, r, http.StatusOK, "", errUnknownUserCode)
	}

	switch step {
	case "code":
		user, signedIn, err := s.currentSession(r)
		if err != nil {
			return err
		}
		if !signedIn {
			return s.deviceLoginPage(w, r, d, code, "", "")
		}
		return s.deviceConsentPage(w, r, d, code, user)
	case "login":
		user, failed, err := s.pageLogin(w, r, d.ClientID, form)
		if err != nil {
			return err
		}
		if failed != "" {
			return s.deviceLoginPage(w, r, d, code, form.Get("username"), failed)
		}
		return s.deviceConsentPage(w, r, d, code, user)
	}

	// step == "consent"
	user, signedIn, err := s.currentSession(r)
	if err != nil {
		return err
	}
	if !signedIn {
		return s.deviceLoginPage(w, r, d, code, "", "Your session has ended. Please sign in again.")
	}
	if err := s.checkFormToken(r, form, "device-consent", code, user.Username); err != nil {
		return err
	}
	approve := form.Get("decision") == "allow"
	if !approve && form.Get("decision") != "deny" {
		return errPage(http.StatusBadRequest, "The form is malformed.")
	}
	err = s.store.DecideDeviceGrant(context.WithoutCancel(r.Context()), store.HashToken(code), s.now(), approve, user.Username, user.Version)
	if errors.Is(err, store.ErrNotFound) {
		return s.deviceCodePage(w, r, http.StatusOK, "", errUnknownUserCode)
	}
	if err != nil {
		return fmt.Errorf("decide device authorization: %w", err)
	}
	if approve {
		s.audit(r.Context(), eventDeviceApproved, "client_id", d.ClientID, "username", user.Username, "scope", d.Scope)
		return writePage(w, http.StatusOK, "result", page{Title: "Device approved", Message: "You can return to your device now."})
	}
	s.audit(r.Context(), eventDeviceDenied, "client_id", d.ClientID, "username", user.Username)
	return writePage(w, http.StatusOK, "result", page{Title: "Device denied", Message: "The device was not given access."})
}

// deviceByUserCode finds the pending device authorization of a user code;
// a miss counts as a failure of src.
func (s *server) deviceByUserCode(ctx context.Context, src netip.Addr, code string, wellFormed bool) (store.DeviceGrant, bool, error) {
	if !wellFormed {
		s.throttle.fail(src)
		return store.DeviceGrant{}, false, nil
	}
	d, err := s.store.GetDeviceGrantByUserCode(ctx, store.HashToken(code), s.now())
	if errors.Is(err, store.ErrNotFound) {
		s.throttle.fail(src)
		s.audit(ctx, eventUserCodeMissed)
		return store.DeviceGrant{}, false, nil
	}
	if err != nil {
		return store.DeviceGrant{}, false, fmt.Errorf("load device authorization: %w", err)
	}
	return d, true, nil
}

func (s *server) deviceLoginPage(w http.ResponseWriter, r *http.Request, d store.DeviceGrant, code, username, failed string) error {
	secret := s.csrfSecret(w, r)
	return writePage(w, http.StatusOK, "login", page{
		Title: "Sign in", Error: failed, Action: "/device", ClientID: d.ClientID, Username: username,
		Hidden: []hiddenField{{"user_code", store.FormatUserCode(code)}}, CSRF: formToken(secret, "device-login", code),
	})
}

// deviceConsentPage asks the user to approve the device, always, first
// party or not: the page shows the code, so that a user tricked into
// entering someone else's code has a chance to notice (RFC 8628 §5.4).
func (s *server) deviceConsentPage(w http.ResponseWriter, r *http.Request, d store.DeviceGrant, code string, user store.User) error {
	secret := s.csrfSecret(w, r)
	return writePage(w, http.StatusOK, "consent", page{
		Title: "Connect this device?", Action: "/device", ClientID: d.ClientID, Username: user.Username,
		UserCode: store.FormatUserCode(code), Scopes: scopeList(d.Scope),
		Hidden: []hiddenField{{"user_code", store.FormatUserCode(code)}},
		CSRF:   formToken(secret, "device-consent", code, user.Username),
	})
}
