package authserver

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"html/template"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/example/authsvc/store"
)

// The sign-in pages (/authorize, /device, /logout) are server-rendered
// html/template, embedded in the binary: no script, no third-party asset,
// one stylesheet served from here.
//
//go:embed web/pages.html web/style.css
var webFiles embed.FS

var pageTemplates = template.Must(template.ParseFS(webFiles, "web/pages.html"))

var styleCSS = func() []byte {
	b, err := webFiles.ReadFile("web/style.css")
	if err != nil {
		panic(err)
	}
	return b
}()

// hiddenField is one parameter a form carries to its next step.
type hiddenField struct{ Name, Value string }

// page is what every template reads.
type page struct {
	Title    string
	Error    string
	Message  string
	Action   string
	ClientID string
	Username string
	UserCode string
	Scopes   []string
	// ReturnTo is where an allowed authorization sends the browser (the
	// redirect URI's scheme, host and port), shown on the consent page;
	// ReturnToThisComputer says that it is a loopback address.
	ReturnTo             string
	ReturnToThisComputer bool
	Hidden               []hiddenField
	CSRF                 string
	// formTargets are the URLs a form of this page may end up at besides
	// this server (the client's redirect URI, when allowing redirects
	// there): CSP form-action covers the redirect after a submission, and
	// lists their origins (cspOrigin).
	formTargets []string
}

// writePage renders the template name with the headers every sign-in page
// carries: nothing framed (clickjacking), cached or leaked in a Referer,
// and a CSP that allows only this server's stylesheet and forms.
func writePage(w http.ResponseWriter, status int, name string, p page) error {
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, p); err != nil {
		return err
	}
	h := w.Header()
	formAction := "'self'"
	for _, target := range p.formTargets {
		// An origin CSP cannot express is left out: the browser would
		// then refuse the redirect after the form, which is better than
		// a header that says something else than meant.
		if o := cspOrigin(target); o != "" {
			formAction += " " + o
		}
	}
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	setPageHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// setPageHeaders are the headers of every sign-in answer, redirects
// included.
func setPageHeaders(h http.Header) {
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
}

func handleStyle(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(styleCSS)
}

// pageError is a refusal shown as a page, never a redirect: what the user
// sees when the request cannot be trusted to name where to send them
// (an unknown client, an unregistered redirect URI), or a form that is
// malformed or forged.
type pageError struct {
	status int
	title  string
	msg    string
	cause  error // logged, never shown
}

func (e *pageError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *pageError) Unwrap() error { return e.cause }

func errPage(status int, msg string) *pageError {
	return &pageError{status: status, title: "Sign-in error", msg: msg}
}

// servePage is serve for the sign-in pages: refusals are pages, not JSON.
// Unexpected errors are logged once and shown as a bare apology.
func (s *server) servePage(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var pe *pageError
		var oe *oauthError
		switch {
		case errors.As(err, &pe):
			if pe.cause != nil {
				s.logger.InfoContext(r.Context(), "page refused", "path", r.URL.Path, "cause", pe.cause)
			}
		case errors.As(err, &oe):
			// The shared refusals (throttle, busy) keep their status
			// and Retry-After, shown as a page.
			if oe.throttled != "" {
				s.metrics.throttled.WithLabelValues(oe.throttled).Inc()
			}
			if oe.retryAfter > 0 {
				w.Header().Set("Retry-After", retryAfterSeconds(oe.retryAfter))
			}
			msg := oe.description
			if oe.status >= 500 && oe.code == "server_error" {
				msg = "Something went wrong on our side. Please try again."
			}
			pe = errPage(oe.status, msg)
		default:
			s.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			pe = errPage(http.StatusInternalServerError, "Something went wrong on our side. Please try again.")
		}
		_ = writePage(w, pe.status, "result", page{Title: pe.title, Error: pe.msg})
	})
}

// maxPageFormBytes bounds a sign-in form: a few parameters of at most a
// few kilobytes.
const maxPageFormBytes = 16 << 10

// readPageForm reads a sign-in form body (application/x-www-form-urlencoded
// only, bounded, valid UTF-8, no parameter repeated).
func readPageForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != formType {
		return nil, errPage(http.StatusUnsupportedMediaType, "This form must be sent as a web form.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPageFormBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errPage(http.StatusRequestEntityTooLarge, "The form is too large.")
		}
		return nil, &pageError{status: http.StatusBadRequest, title: "Sign-in error", msg: "The form could not be read.", cause: err}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errPage(http.StatusBadRequest, "The form is malformed.")
	}
	if err := checkParams(form); err != nil {
		return nil, errPage(http.StatusBadRequest, "The form is malformed.")
	}
	return form, nil
}

// checkParams refuses a repeated parameter (RFC 6749 §3.1) and invalid
// UTF-8 in any name or value.
func checkParams(v url.Values) error {
	for k, vs := range v {
		if len(vs) > 1 {
			return errors.New("parameter " + bounded(k) + " repeated")
		}
		if !utf8.ValidString(k) || !utf8.ValidString(vs[0]) {
			return errors.New("invalid UTF-8")
		}
	}
	return nil
}

// Cookies. They are host-only, HttpOnly and SameSite=Lax; Secure (and then
// the __Host- prefix, which binds them to this host and path /) whenever
// the server is reached over TLS: it serves TLS, its issuer is https, or it
// sits behind a trusted proxy.
const (
	sessionCookie = "authsvc_session"
	csrfCookie    = "authsvc_csrf"
)

func (s *server) cookieName(base string) string {
	if s.secureCookies {
		return "__Host-" + base
	}
	return base
}

// setCookie sets a cookie for life (zero: until the browser closes; below
// zero: deleted).
func (s *server) setCookie(w http.ResponseWriter, base, value string, life time.Duration) {
	c := &http.Cookie{
		Name:     s.cookieName(base),
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   s.secureCookies,
		SameSite: http.SameSiteLaxMode,
	}
	switch {
	case life < 0:
		c.MaxAge = -1
	case life > 0:
		c.MaxAge = max(1, int(life/time.Second))
	}
	http.SetCookie(w, c)
}

func (s *server) cookie(r *http.Request, base string) string {
	c, err := r.Cookie(s.cookieName(base))
	if err != nil || !store.PlausibleToken(c.Value) {
		return ""
	}
	return c.Value
}

// Forms are protected against cross-site request forgery twice: Go's
// http.CrossOriginProtection refuses a cross-origin POST outright, and
// every form carries a token bound to the browser (a random cookie the
// attacker can neither read nor set: HttpOnly, host-only) and to the
// pending request it belongs to (the authorization request, the user code,
// logout). The token is an HMAC keyed by the cookie, so it needs no
// server-side state and holds across replicas.

// csrfSecret returns the browser's CSRF cookie value, setting a new one
// when it has none.
func (s *server) csrfSecret(w http.ResponseWriter, r *http.Request) string {
	if v := s.cookie(r, csrfCookie); v != "" {
		return v
	}
	v, err := store.NewOpaqueValue()
	if err != nil {
		panic(err) // crypto/rand never fails (Go 1.24)
	}
	s.setCookie(w, csrfCookie, v, 0)
	// The cookie must reach the handler answering this same request.
	r.AddCookie(&http.Cookie{Name: s.cookieName(csrfCookie), Value: v})
	return v
}

// formToken binds a form to the browser's CSRF secret and to what it is
// for: purpose, then the bound values.
func formToken(secret, purpose string, bound ...string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	// Each field length-prefixed: no two lists of values write the same
	// bytes, whatever the values hold (a NUL separator did not ensure it).
	var n [8]byte
	for _, b := range append([]string{purpose}, bound...) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		mac.Write(n[:])
		mac.Write([]byte(b))
	}
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkFormToken refuses a form whose token is missing or not the one this
// browser was given for this purpose and these values.
func (s *server) checkFormToken(r *http.Request, form url.Values, purpose string, bound ...string) error {
	secret := s.cookie(r, csrfCookie)
	got := form.Get("csrf_token")
	if secret == "" || got == "" || !hmac.Equal([]byte(got), []byte(formToken(secret, purpose, bound...))) {
		return &pageError{status: http.StatusForbidden, title: "Sign-in error",
			msg: "This form has expired or was not sent from this site. Go back and try again.", cause: errors.New("csrf token mismatch")}
	}
	return nil
}

// crossOrigin wraps the sign-in pages with Go's cross-origin protection; a
// refusal is a page like the others.
func (s *server) crossOrigin(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.logger.InfoContext(r.Context(), "page refused", "path", r.URL.Path, "cause", "cross-origin request")
		_ = writePage(w, http.StatusForbidden, "result", page{Title: "Sign-in error",
			Error: "This form was not sent from this site."})
	}))
	return cop.Handler(h)
}

// cspHostPart is a CSP host-part without wildcards (CSP3 §2.3.1: labels of
// ALPHA / DIGIT / "-" joined by dots).
var cspHostPart = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)*$`)

// cspOrigin is the origin of an absolute http(s) URL as a CSP host-source:
// scheme "://" host [":" port], unquoted (quotes are for keywords such as
// 'self'). It is "" when CSP's grammar cannot express the origin: an IPv6
// literal, which browsers drop as an invalid source, or a host holding a
// character of CSP's own syntax (";" ends a directive, "," a policy, "'"
// starts a keyword), which ValidateRedirectURI lets through since the URL
// parser does.
func cspOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	hostPort := strings.ToLower(u.Host)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if !cspHostPart.MatchString(host) || (port == "" && hostPort != host) || (port != "" && hostPort != host+":"+port) {
		return ""
	}
	return u.Scheme + "://" + hostPort
}

// returnTo is where a redirect URI sends the browser, as the consent page
// names it: scheme, host and port, the port written out even when it is
// the scheme's default, since on a loopback host the port is what tells
// which program gets the code. local reports a loopback host.
func returnTo(raw string) (where string, local bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ip, err := netip.ParseAddr(host)
	return u.Scheme + "://" + net.JoinHostPort(host, port), err == nil && ip.IsLoopback()
}

// scopeList is a scope string as a sorted list, for the consent page.
func scopeList(scope string) []string {
	l := strings.Fields(scope)
	slices.Sort(l)
	return l
}
