package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// step is one row of the lesson: what it does, the request it sends, what
// it expects, and the check of the answer against that expectation.
type step struct {
	action string
	// token, if not nil, points at the token the step sends, which an earlier
	// step provides: it is shown abbreviated, and if it is still empty (that
	// step failed) the step fails as skipped rather than stopping the table.
	token *string
	// label is the TOKEN column of a step that sends no earlier token.
	label   string
	expect  string
	request func(token string) request
	check   func(answer) (got string, err error)
	// run, if set, plays the step instead of request and check (a step
	// of several requests: the device login).
	run func(ctx context.Context) (got string, err error)
	// revoked: the step's token has just been revoked. The resource service
	// may answer from its introspection cache for up to RESOURCE_CACHE_TTL,
	// so revocation reaches it within that bound, not at once: the request
	// is resent while it is still accepted, for up to -revoke-wait.
	revoked bool
}

// row is a played step: one line of the table.
type row struct {
	action, token, expect, got string
	err                        error
}

var errSkipped = errors.New("skipped: an earlier step failed")

// lesson is the demo, in order. Logins store their tokens for the steps
// after them.
func (d *demo) lesson() []step {
	c := d.cfg
	var alice, readonly, itemID string
	bad := rand.Text() // a token the authorization server never issued
	getItems := func(token string) request { return d.items(http.MethodGet, token, "") }
	steps := []step{
		d.login(c.clientID, c.clientSecret, &alice),
		{
			// An item first, so that the list below cannot be empty.
			action: `POST /items {"name":"apple"}`, token: &alice, expect: "201 Created + item",
			request: func(token string) request { return d.items(http.MethodPost, token, `{"name":"apple"}`) },
			check:   func(a answer) (string, error) { return checkCreated(a, &itemID) },
		},
		{
			action: "GET /items", token: &alice, expect: "200 OK + items",
			request: getItems,
			check:   func(a answer) (string, error) { return checkListed(a, itemID) },
		},
		{
			action: "GET /items (bad token)", token: &bad, expect: `401 + error="invalid_token"`,
			request: getItems, check: challenge(http.StatusUnauthorized, "invalid_token", ""),
		},
		{
			// No token: a challenge without an error code (RFC 6750 §3.1).
			action: "GET /items (no token)", label: "(none)", expect: "401 + challenge without error",
			request: getItems, check: challenge(http.StatusUnauthorized, "", ""),
		},
		// A client allowed only items:read logs the same user in ...
		d.login(c.readonlyID, c.readonlySecret, &readonly),
		{
			// ... and its token may read but not write.
			action: "POST /items (read-only token)", token: &readonly, expect: `403 + error="insufficient_scope"`,
			request: func(token string) request { return d.items(http.MethodPost, token, `{"name":"pear"}`) },
			check:   challenge(http.StatusForbidden, "insufficient_scope", "items:write"),
		},
		{
			// Revoke the first token (RFC 7009) ...
			action: "POST /revoke (" + c.clientID + ")", token: &alice, expect: "200 OK",
			request: func(token string) request {
				return d.tokenRequest("/revoke", c.clientID, c.clientSecret, url.Values{"token": {token}, "token_type_hint": {"access_token"}})
			},
			check: checkRevoke,
		},
		{
			// ... and it stops working.
			action: "GET /items (revoked token)", token: &alice, expect: `401 + error="invalid_token"`,
			request: getItems, check: challenge(http.StatusUnauthorized, "invalid_token", ""), revoked: true,
		},
	}
	if c.deviceLogin {
		var device string
		steps = append(steps, d.deviceLogin(&device), step{
			action: "GET /items (device token)", token: &device, expect: "200 OK + items",
			request: getItems, check: func(a answer) (string, error) { return checkListed(a, itemID) },
		})
	}
	return steps
}

// login is the password grant (RFC 6749 §4.3) for clientID; the access
// token goes to *token.
func (d *demo) login(clientID, secret string, token *string) step {
	return step{
		action: fmt.Sprintf("login %s via %s (password grant)", d.cfg.username, clientID),
		label:  "-",
		expect: "200 OK + Bearer token",
		request: func(string) request {
			return d.tokenRequest("/token", clientID, secret,
				url.Values{"grant_type": {"password"}, "username": {d.cfg.username}, "password": {d.cfg.password}})
		},
		check: func(a answer) (got string, err error) {
			*token, got, err = checkLogin(a)
			return got, err
		},
	}
}

// play runs the steps in order, each once (see step.revoked).
func (d *demo) play(ctx context.Context, steps []step) []row {
	rows := make([]row, 0, len(steps))
	for _, s := range steps {
		r := row{action: s.action, token: s.label, expect: s.expect}
		var token string
		if s.token != nil {
			token = *s.token
			r.token = abbrev(token)
		}
		switch {
		case s.token != nil && token == "":
			r.err = errSkipped
		case s.run != nil:
			r.got, r.err = s.run(ctx)
		case s.revoked:
			r.got, r.err = d.untilRefused(ctx, s, token)
		default:
			r.got, r.err = d.attempt(ctx, s, token)
		}
		rows = append(rows, r)
	}
	return rows
}

// attempt sends the step's request once and checks the answer.
func (d *demo) attempt(ctx context.Context, s step, token string) (string, error) {
	a, err := d.send(ctx, s.request(token))
	if err != nil {
		return "", err
	}
	return s.check(a)
}

// untilRefused attempts s until it passes, or until the token is no longer
// accepted (200) or -revoke-wait has passed.
func (d *demo) untilRefused(ctx context.Context, s step, token string) (string, error) {
	start := time.Now()
	deadline := start.Add(d.cfg.revokeWait)
	for {
		got, err := d.attempt(ctx, s, token)
		if err == nil {
			if waited := time.Since(start); waited >= 500*time.Millisecond {
				got += fmt.Sprintf(" after %.1fs (introspection cache)", waited.Seconds())
			}
			return got, nil
		}
		accepted := strings.HasPrefix(got, "200")
		if time.Now().After(deadline) || !accepted {
			if accepted {
				err = fmt.Errorf("still accepted %v after revocation", d.cfg.revokeWait)
			}
			return got, err
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// checkLogin reads a token endpoint answer. The body holds tokens: only its
// error code is ever shown.
func checkLogin(a answer) (token, got string, err error) {
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
		Error       string `json:"error"`
	}
	_ = json.Unmarshal(a.body, &tok)
	if a.status != http.StatusOK {
		return "", statusAndError(a.status, tok.Error), fmt.Errorf("want status 200, got %d", a.status)
	}
	if tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "Bearer") {
		return "", "200, no Bearer access token", errors.New("the answer has no Bearer access_token")
	}
	return tok.AccessToken, fmt.Sprintf("200, token %s scope %q", abbrev(tok.AccessToken), tok.Scope), nil
}

// checkCreated wants the apple item; its id goes to *id.
func checkCreated(a answer, id *string) (string, error) {
	var item struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(a.body, &item)
	if a.status != http.StatusCreated {
		return statusAndError(a.status, item.Error), fmt.Errorf("want status 201, got %d", a.status)
	}
	if item.ID == "" || item.Name != "apple" {
		return "201, unexpected body", errors.New(`the answer is not the item {"name":"apple"}`)
	}
	*id = item.ID
	return fmt.Sprintf("201, item %q", item.Name), nil
}

// checkListed wants a list holding the item wantID.
func checkListed(a answer, wantID string) (string, error) {
	var list struct {
		Items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(a.body, &list)
	if a.status != http.StatusOK {
		return statusAndError(a.status, list.Error), fmt.Errorf("want status 200, got %d", a.status)
	}
	got := fmt.Sprintf("200, %d item(s)", len(list.Items))
	if len(list.Items) > 0 {
		got += fmt.Sprintf(", newest %q", list.Items[0].Name)
	}
	for _, it := range list.Items {
		if it.ID == wantID {
			return got, nil
		}
	}
	return got, errors.New("the item created in the step before is not listed")
}

// challenge checks the status and the RFC 6750 §3 challenge: its error code
// (none if wantCode is ""), and its scope if wantScope is set.
func challenge(wantStatus int, wantCode, wantScope string) func(answer) (string, error) {
	return func(a answer) (string, error) {
		scheme, params := parseChallenge(a.header.Get("WWW-Authenticate"))
		got := fmt.Sprintf("%d, %s", a.status, describeChallenge(scheme, params))
		switch {
		case a.status != wantStatus:
			return got, fmt.Errorf("want status %d, got %d", wantStatus, a.status)
		case !strings.EqualFold(scheme, "Bearer"):
			return got, errors.New("want a Bearer WWW-Authenticate challenge")
		case params["error"] != wantCode && wantCode == "":
			return got, fmt.Errorf("want a challenge without error code, got error=%q", params["error"])
		case params["error"] != wantCode:
			return got, fmt.Errorf("want error=%q in the challenge", wantCode)
		case wantScope != "" && !strings.Contains(" "+params["scope"]+" ", " "+wantScope+" "):
			return got, fmt.Errorf("want scope=%q in the challenge", wantScope)
		}
		return got, nil
	}
}

func checkRevoke(a answer) (string, error) {
	if a.status != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(a.body, &e)
		return statusAndError(a.status, e.Error), fmt.Errorf("want status 200, got %d", a.status)
	}
	return "200", nil
}

// abbrev shows a token as its first six characters and an ellipsis: enough
// to tell tokens apart in the table, never enough to use one.
func abbrev(token string) string {
	if token == "" {
		return "-"
	}
	r := []rune(token)
	if len(r) > 12 {
		r = r[:6]
	} else {
		r = r[:len(r)/2]
	}
	return string(r) + "…"
}
