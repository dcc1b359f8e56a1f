package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// request is what a step sends: either a form to the authorization server
// with client credentials, or a request to the resource service with a
// bearer token.
type request struct {
	method, url            string
	clientID, clientSecret string     // client_secret_basic, with form
	form                   url.Values // if not nil, the form-encoded body
	bearer                 string     // the bearer token, none if empty
	json                   string     // the JSON body, none if empty
}

// answer is what came back; body is bounded and trimmed.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// tokenRequest posts form to an endpoint of the authorization server.
func (d *demo) tokenRequest(path, clientID, secret string, form url.Values) request {
	return request{method: http.MethodPost, url: d.cfg.authURL + path, clientID: clientID, clientSecret: secret, form: form}
}

// items is a request to the resource service's /items.
func (d *demo) items(method, token, body string) request {
	return request{method: method, url: d.cfg.resourceURL + "/items", bearer: token, json: body}
}

func (d *demo) send(ctx context.Context, r request) (answer, error) {
	var body io.Reader
	switch {
	case r.form != nil:
		body = strings.NewReader(r.form.Encode())
	case r.json != "":
		body = strings.NewReader(r.json)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Accept", "application/json")
	switch {
	case r.form != nil:
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// A public client names itself in the form and sends no
		// credentials.
		if r.clientID != "" {
			// id and secret are form-urlencoded first (RFC 6749 §2.3.1).
			creds := url.QueryEscape(r.clientID) + ":" + url.QueryEscape(r.clientSecret)
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds)))
		}
	case r.json != "":
		req.Header.Set("Content-Type", "application/json")
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}

	resp, err := d.http.Do(req)
	if err != nil {
		// The URL error names the endpoint only; no request carries a
		// token in its URL.
		return answer{}, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: read answer: %w", req.Method, req.URL.Path, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: bytes.TrimSpace(b)}, nil
}

func statusAndError(status int, code string) string {
	if code == "" {
		return fmt.Sprint(status)
	}
	return fmt.Sprintf("%d, error %q", status, code)
}

// describeChallenge shows the parts of a challenge the table cares about.
func describeChallenge(scheme string, params map[string]string) string {
	if scheme == "" {
		return "no WWW-Authenticate"
	}
	var b strings.Builder
	b.WriteString(scheme)
	if v, ok := params["realm"]; ok {
		fmt.Fprintf(&b, " realm=%q", v)
	}
	if v, ok := params["error"]; ok {
		fmt.Fprintf(&b, " error=%q", v)
	}
	if v, ok := params["scope"]; ok {
		fmt.Fprintf(&b, " scope=%q", v)
	}
	return b.String()
}

// parseChallenge splits one challenge (RFC 9110 §11.6.1) into its scheme
// and auth-params: `Bearer realm="items", error="invalid_token"`.
func parseChallenge(h string) (scheme string, params map[string]string) {
	params = map[string]string{}
	h = strings.TrimSpace(h)
	scheme, rest, _ := strings.Cut(h, " ")
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimLeft(strings.TrimSpace(rest), ",") {
		rest = strings.TrimSpace(rest)
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		name = strings.ToLower(strings.TrimSpace(name))
		after = strings.TrimSpace(after)
		var value string
		if strings.HasPrefix(after, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			value, rest = b.String(), after[min(i+1, len(after)):]
		} else {
			value, rest, _ = strings.Cut(after, ",")
			value = strings.TrimSpace(value)
		}
		params[name] = value
	}
	return scheme, params
}
