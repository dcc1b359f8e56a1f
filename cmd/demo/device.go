package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// The device grant (RFC 8628), as a command-line tool or a TV signs in: it
// asks for a code pair, shows the user where to go and which code to type,
// and polls the token endpoint until the user has approved or denied it.

// deviceAuthorization is RFC 8628 §3.2's answer. device_code is a secret
// of the device: it is never printed.
type deviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
	Error                   string `json:"error"`
}

// slowDownStep is what slow_down adds to the interval (RFC 8628 §3.5).
const slowDownStep = 5 * time.Second

// deviceLogin is the step that signs the user in on this "device"; the
// access token goes to *token.
func (d *demo) deviceLogin(token *string) step {
	return step{
		action: fmt.Sprintf("login via %s (device grant)", d.cfg.deviceClientID),
		label:  "-",
		expect: "approved in a browser: 200 OK + Bearer token",
		run: func(ctx context.Context) (string, error) {
			tok, got, err := d.runDeviceLogin(ctx)
			*token = tok
			return got, err
		},
	}
}

func (d *demo) runDeviceLogin(ctx context.Context) (token, got string, err error) {
	a, err := d.send(ctx, d.tokenRequest("/device_authorization", "", "",
		url.Values{"client_id": {d.cfg.deviceClientID}, "scope": {"items:read items:write"}}))
	if err != nil {
		return "", "", err
	}
	var da deviceAuthorization
	_ = json.Unmarshal(a.body, &da)
	if a.status != http.StatusOK {
		return "", statusAndError(a.status, da.Error), fmt.Errorf("device authorization: want status 200, got %d", a.status)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return "", "200, incomplete answer", errors.New("device authorization: no device_code, user_code or verification_uri")
	}
	open := da.VerificationURIComplete
	if open == "" {
		open = da.VerificationURI
	}
	// The one line a person (or the compose test's browser) acts on.
	fmt.Fprintf(d.notify, "demo: to approve the device login, open %s and confirm the code %s (sign in as %s)\n",
		open, da.UserCode, d.cfg.username)

	interval := time.Duration(max(da.Interval, 1)) * time.Second
	wait := d.cfg.deviceWait
	if life := time.Duration(da.ExpiresIn) * time.Second; life > 0 && life < wait {
		wait = life
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	polls, slowDowns := 0, 0
	for {
		if err := d.sleep(ctx, interval); err != nil {
			return "", fmt.Sprintf("no approval within %v", wait), fmt.Errorf("device login: %w", err)
		}
		polls++
		a, err := d.send(ctx, d.tokenRequest("/token", "", "", url.Values{
			"grant_type":  {"urn:ietf:params:oauth:grant-type:device_code"},
			"device_code": {da.DeviceCode},
			"client_id":   {d.cfg.deviceClientID},
		}))
		if err != nil {
			return "", "", err
		}
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(a.body, &e)
		switch {
		case a.status == http.StatusOK:
			token, got, err := checkLogin(a)
			return token, fmt.Sprintf("%s after %d polls (%d slow_down)", got, polls, slowDowns), err
		case e.Error == "authorization_pending":
		case e.Error == "slow_down":
			slowDowns++
			interval += slowDownStep
		default: // access_denied, expired_token, or anything else
			return "", statusAndError(a.status, e.Error), fmt.Errorf("device login ended: %s", statusAndError(a.status, e.Error))
		}
	}
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
