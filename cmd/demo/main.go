// Command demo plays the lesson the project grew from against a running
// authorization server and resource service, and prints it as a table:
// a password login gets a token; the token gets items; a bad token and no
// token get 401; a token without items:write gets 403 on a write; a revoked
// token gets 401. It exits non-zero if any step does not behave as stated.
//
// It works the same against `docker compose up` (the compose file's demo
// service) and against the local one-command run (`make run`).
//
// The credentials default to the public demo values of
// configs/demo-bootstrap.yaml, so that it runs with no setup; they are
// demo-only data, checked into git. Secrets and passwords are read only from
// the environment (DEMO_CLIENT_SECRET, DEMO_READONLY_CLIENT_SECRET,
// DEMO_PASSWORD), never from flags, and never printed; tokens are printed
// abbreviated to their first six characters.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/example/authsvc/cmd/internal/cliconf"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "demo:", err)
		}
		os.Exit(1)
	}
}

// Demo-only defaults: the public values of configs/demo-bootstrap.yaml.
const (
	demoClientSecret         = "demo-client-secret-not-for-production"   // demo only
	demoReadonlyClientSecret = "demo-readonly-secret-not-for-production" // demo only
	demoPassword             = "alice-demo-password"                     // demo only
)

type options struct {
	authURL, resourceURL       string
	clientID, clientSecret     string
	readonlyID, readonlySecret string
	username, password         string
	wait, revokeWait, timeout  time.Duration
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.authURL, "auth-url", "http://localhost:9096", "authorization server base URL (DEMO_AUTH_URL)")
	fs.StringVar(&o.resourceURL, "resource-url", "http://localhost:8080", "resource service base URL (DEMO_RESOURCE_URL)")
	fs.StringVar(&o.clientID, "client-id", "demo-client", "client with items:read and items:write; secret from DEMO_CLIENT_SECRET (DEMO_CLIENT_ID)")
	fs.StringVar(&o.readonlyID, "readonly-client-id", "demo-readonly", "client with items:read only; secret from DEMO_READONLY_CLIENT_SECRET (DEMO_READONLY_CLIENT_ID)")
	fs.StringVar(&o.username, "username", "alice", "user to log in; password from DEMO_PASSWORD (DEMO_USERNAME)")
	fs.DurationVar(&o.wait, "wait", 0, "first wait up to this long for both services' /readyz; 0 does not wait (DEMO_WAIT)")
	fs.DurationVar(&o.revokeWait, "revoke-wait", 20*time.Second,
		"how long a revoked token may still be accepted: the resource service caches introspection answers for RESOURCE_CACHE_TTL (DEMO_REVOKE_WAIT)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of each HTTP request (DEMO_TIMEOUT)")
	if err := cliconf.Parse(fs, args, getenv, "DEMO_"); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// Secrets only from the environment: flags show in ps.
	o.clientSecret = envOr(getenv, "DEMO_CLIENT_SECRET", demoClientSecret)
	o.readonlySecret = envOr(getenv, "DEMO_READONLY_CLIENT_SECRET", demoReadonlyClientSecret)
	o.password = envOr(getenv, "DEMO_PASSWORD", demoPassword)

	var errs []error
	for _, u := range []struct{ name, value string }{{"auth-url", o.authURL}, {"resource-url", o.resourceURL}} {
		p, err := url.Parse(u.value)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("-%s %q: want an absolute http(s) URL", u.name, u.value))
		}
	}
	if o.wait < 0 || o.revokeWait < 0 || o.timeout <= 0 {
		errs = append(errs, errors.New("-wait and -revoke-wait must not be negative, -timeout must be positive"))
	}
	o.authURL = strings.TrimRight(o.authURL, "/")
	o.resourceURL = strings.TrimRight(o.resourceURL, "/")
	return o, errors.Join(errs...)
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// run plays every step, prints the table to stdout and returns an error if
// any step did not behave as stated.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	d := &demo{
		o:    o,
		http: &http.Client{Timeout: o.timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	if o.wait > 0 {
		if err := d.waitReady(ctx, stderr); err != nil {
			return err
		}
	}
	steps := d.play(ctx)

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tACTION\tTOKEN\tEXPECTED\tGOT\tRESULT")
	failed := 0
	for i, s := range steps {
		result := "PASS"
		if s.err != nil {
			result = "FAIL: " + s.err.Error()
			failed++
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", i+1, s.action, s.token, s.expect, s.got, result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d of %d steps did not behave as stated\n", failed, len(steps))
		return fmt.Errorf("%d of %d steps did not behave as stated", failed, len(steps))
	}
	fmt.Fprintf(stdout, "all %d steps behaved as stated\n", len(steps))
	return nil
}

type demo struct {
	o    options
	http *http.Client
}

// step is one row of the table. token is the token sent, abbreviated; err
// says why the step did not behave as expected.
type step struct {
	action, token, expect, got string
	err                        error
}

// play runs the lesson. A step whose input an earlier failure left missing
// fails as skipped rather than stopping the table.
func (d *demo) play(ctx context.Context) []step {
	var steps []step
	add := func(s step) { steps = append(steps, s) }

	// 1. Log in with the password grant.
	alice, s := d.login(ctx, d.o.clientID, d.o.clientSecret)
	add(s)

	// 2. Create an item, so the list below cannot be empty.
	var itemID string
	s = step{action: `POST /items {"name":"apple"}`, token: abbrev(alice), expect: "201 Created + item"}
	if alice == "" {
		s.err = errSkipped
	} else {
		itemID, s.got, s.err = d.createItem(ctx, alice)
	}
	add(s)

	// 3. The valid token gets the items.
	s = step{action: "GET /items", token: abbrev(alice), expect: "200 OK + items"}
	if alice == "" {
		s.err = errSkipped
	} else {
		s.got, s.err = d.listItems(ctx, alice, itemID)
	}
	add(s)

	// 4. A token the authorization server never issued.
	bad := rand.Text()
	s = step{action: "GET /items (bad token)", token: abbrev(bad), expect: `401 + error="invalid_token"`}
	s.got, s.err = d.expectChallenge(ctx, http.MethodGet, bad, http.StatusUnauthorized, "invalid_token", "")
	add(s)

	// 5. No token: a challenge without an error code (RFC 6750 §3.1).
	s = step{action: "GET /items (no token)", token: "(none)", expect: "401 + challenge without error"}
	s.got, s.err = d.expectChallenge(ctx, http.MethodGet, "", http.StatusUnauthorized, "", "")
	add(s)

	// 6. A client allowed only items:read logs the same user in ...
	readonly, s := d.login(ctx, d.o.readonlyID, d.o.readonlySecret)
	add(s)

	// 7. ... and its token may read but not write.
	s = step{action: "POST /items (read-only token)", token: abbrev(readonly), expect: `403 + error="insufficient_scope"`}
	if readonly == "" {
		s.err = errSkipped
	} else {
		s.got, s.err = d.expectChallenge(ctx, http.MethodPost, readonly, http.StatusForbidden, "insufficient_scope", "items:write")
	}
	add(s)

	// 8. Revoke the first token (RFC 7009) ...
	s = step{action: "POST /revoke (" + d.o.clientID + ")", token: abbrev(alice), expect: "200 OK"}
	if alice == "" {
		s.err = errSkipped
	} else {
		s.got, s.err = d.revoke(ctx, alice)
	}
	add(s)

	// 9. ... and it stops working.
	s = step{action: "GET /items (revoked token)", token: abbrev(alice), expect: `401 + error="invalid_token"`}
	if alice == "" {
		s.err = errSkipped
	} else {
		s.got, s.err = d.expectRevoked(ctx, alice)
	}
	add(s)
	return steps
}

var errSkipped = errors.New("skipped: an earlier step failed")

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

// login runs the password grant (RFC 6749 §4.3) for clientID and returns
// the access token.
func (d *demo) login(ctx context.Context, clientID, secret string) (string, step) {
	s := step{
		action: fmt.Sprintf("login %s via %s (password grant)", d.o.username, clientID),
		token:  "-",
		expect: "200 OK + Bearer token",
	}
	form := url.Values{"grant_type": {"password"}, "username": {d.o.username}, "password": {d.o.password}}
	resp, body, err := d.postForm(ctx, d.o.authURL+"/token", clientID, secret, form)
	if err != nil {
		s.err = err
		return "", s
	}
	// The body holds tokens: only its error code is ever shown.
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
		Error       string `json:"error"`
	}
	_ = json.Unmarshal(body, &tok)
	if resp.StatusCode != http.StatusOK {
		s.got = statusAndError(resp.StatusCode, tok.Error)
		s.err = fmt.Errorf("want status 200, got %d", resp.StatusCode)
		return "", s
	}
	if tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "Bearer") {
		s.got = "200, no Bearer access token"
		s.err = errors.New("the answer has no Bearer access_token")
		return "", s
	}
	s.got = fmt.Sprintf("200, token %s scope %q", abbrev(tok.AccessToken), tok.Scope)
	return tok.AccessToken, s
}

func (d *demo) createItem(ctx context.Context, token string) (id, got string, err error) {
	resp, body, err := d.do(ctx, http.MethodPost, d.o.resourceURL+"/items", token, strings.NewReader(`{"name":"apple"}`))
	if err != nil {
		return "", "", err
	}
	var item struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &item)
	if resp.StatusCode != http.StatusCreated {
		return "", statusAndError(resp.StatusCode, item.Error), fmt.Errorf("want status 201, got %d", resp.StatusCode)
	}
	if item.ID == "" || item.Name != "apple" {
		return "", "201, unexpected body", errors.New(`the answer is not the item {"name":"apple"}`)
	}
	return item.ID, fmt.Sprintf("201, item %q", item.Name), nil
}

func (d *demo) listItems(ctx context.Context, token, wantID string) (string, error) {
	resp, body, err := d.do(ctx, http.MethodGet, d.o.resourceURL+"/items", token, nil)
	if err != nil {
		return "", err
	}
	var list struct {
		Items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &list)
	if resp.StatusCode != http.StatusOK {
		return statusAndError(resp.StatusCode, list.Error), fmt.Errorf("want status 200, got %d", resp.StatusCode)
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

// expectChallenge sends method /items with token ("" for none) and checks
// the status and the RFC 6750 §3 challenge: its error code (none if
// wantCode is ""), and its scope if wantScope is set.
func (d *demo) expectChallenge(ctx context.Context, method, token string, wantStatus int, wantCode, wantScope string) (string, error) {
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"name":"pear"}`)
	}
	resp, _, err := d.do(ctx, method, d.o.resourceURL+"/items", token, body)
	if err != nil {
		return "", err
	}
	header := resp.Header.Get("WWW-Authenticate")
	scheme, params := parseChallenge(header)
	got := fmt.Sprintf("%d, %s", resp.StatusCode, describeChallenge(scheme, params))
	switch {
	case resp.StatusCode != wantStatus:
		return got, fmt.Errorf("want status %d, got %d", wantStatus, resp.StatusCode)
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

func (d *demo) revoke(ctx context.Context, token string) (string, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	resp, body, err := d.postForm(ctx, d.o.authURL+"/revoke", d.o.clientID, d.o.clientSecret, form)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return statusAndError(resp.StatusCode, e.Error), fmt.Errorf("want status 200, got %d", resp.StatusCode)
	}
	return "200", nil
}

// expectRevoked polls GET /items with the revoked token until it is refused:
// the resource service may answer from its introspection cache for up to
// RESOURCE_CACHE_TTL, so revocation reaches it within that bound, not at
// once. -revoke-wait bounds the wait.
func (d *demo) expectRevoked(ctx context.Context, token string) (string, error) {
	start := time.Now()
	deadline := start.Add(d.o.revokeWait)
	for {
		got, err := d.expectChallenge(ctx, http.MethodGet, token, http.StatusUnauthorized, "invalid_token", "")
		if err == nil {
			if waited := time.Since(start); waited >= 500*time.Millisecond {
				got += fmt.Sprintf(" after %.1fs (introspection cache)", waited.Seconds())
			}
			return got, nil
		}
		if time.Now().After(deadline) || !strings.HasPrefix(got, "200") {
			if strings.HasPrefix(got, "200") {
				err = fmt.Errorf("still accepted %v after revocation", d.o.revokeWait)
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

// waitReady polls both services' /readyz until they answer 200 or -wait
// passes (compose starts the demo as soon as its dependencies are healthy,
// but a manual run may race a starting service).
func (d *demo) waitReady(ctx context.Context, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, d.o.wait)
	defer cancel()
	for _, base := range []string{d.o.authURL, d.o.resourceURL} {
		announced := false
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
			if err != nil {
				return err
			}
			resp, err := d.http.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if !announced {
				fmt.Fprintf(stderr, "demo: waiting up to %v for %s/readyz\n", d.o.wait, base)
				announced = true
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s/readyz: not ready within %v", base, d.o.wait)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

// postForm sends form with client_secret_basic authentication; id and secret
// are form-urlencoded first (RFC 6749 §2.3.1).
func (d *demo) postForm(ctx context.Context, endpoint, clientID, secret string, form url.Values) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	creds := url.QueryEscape(clientID) + ":" + url.QueryEscape(secret)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds)))
	return d.send(req)
}

// do sends a request to the resource service with token as the bearer
// token, none if token is empty.
func (d *demo) do(ctx context.Context, method, endpoint, token string, body io.Reader) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, endpoint, body)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return d.send(req)
}

func (d *demo) send(req *http.Request) (*http.Response, []byte, error) {
	resp, err := d.http.Do(req)
	if err != nil {
		// The URL error names the endpoint only; no request carries a
		// token in its URL.
		return nil, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read answer: %w", req.Method, req.URL.Path, err)
	}
	return resp, bytes.TrimSpace(body), nil
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
