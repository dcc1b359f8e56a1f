// Package adminapi is the authorization server's admin API: JSON over HTTP
// on a listener of its own, over the admin service, which stays the one
// place users, clients and keys are changed. authctl speaks it with
// --server; Client is its Go client.
//
// Every call is authenticated (a bearer token whose SHA-256 is in the token
// file, or a client certificate), authorized by role (admin reads and
// writes, read only reads) and audited, refusals included. Errors are RFC
// 9457 problem details; lists are paginated with an opaque cursor; request
// bodies are bounded, and a body with an unknown field, a wrong type or
// trailing data is refused before anything is changed. The routes are
// described by the OpenAPI document served at /openapi.json, which a test
// holds to the routes table.
package adminapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/internal/audit"
	"github.com/example/authsvc/internal/reqid"
	"github.com/example/authsvc/store"
)

// MaxBodyBytes bounds a request body: the largest legitimate one, a client
// with its redirect URIs and resources, is a few kilobytes.
const MaxBodyBytes = 64 << 10

// Page sizes of the lists.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// eventCall is the audit event of every admin API call, refusals included.
// The changes themselves are audited by the admin service as well, with
// via=adminapi and the caller's name.
const eventCall = "admin_api_call"

// Config is what the admin API needs beyond the admin service.
type Config struct {
	// Tokens are the accepted bearer tokens (LoadTokens); none means only
	// client certificates are accepted.
	Tokens []Token
	// KEK seals new signing keys; without it keys rotate answers 400.
	KEK *keys.KEK
	// MigrationStatus reports the auth schema's migrations.
	MigrationStatus func(context.Context) (store.SchemaStatus, error)
	// Now is the clock of key states; time.Now if nil.
	Now func() time.Time
}

type handler struct {
	logger *slog.Logger
	svc    *admin.Service
	tokens []Token
	kek    *keys.KEK
	status func(context.Context) (store.SchemaStatus, error)
	now    func() time.Time

	mux      *http.ServeMux
	fallback http.Handler
}

// route is one endpoint: the table the mux is built from and the OpenAPI
// test compares with the document.
type route struct {
	method, path string
	role         Role // "" for unauthenticated
	fn           func(h *handler, c *call) error
}

// call is one request as a handler sees it.
type call struct {
	w   http.ResponseWriter
	r   *http.Request
	svc *admin.Service // audits with the caller's name
	who principal
}

func (c *call) ctx() context.Context { return c.r.Context() }

var routes = []route{
	{"GET", "/openapi.json", "", (*handler).openAPI},

	{"GET", "/v1/users", RoleRead, (*handler).listUsers},
	{"POST", "/v1/users", RoleAdmin, (*handler).createUser},
	{"GET", "/v1/users/{name}", RoleRead, (*handler).getUser},
	{"DELETE", "/v1/users/{name}", RoleAdmin, (*handler).deleteUser},
	{"PUT", "/v1/users/{name}/password", RoleAdmin, (*handler).setPassword},
	{"POST", "/v1/users/{name}/disable", RoleAdmin, (*handler).disableUser},
	{"POST", "/v1/users/{name}/enable", RoleAdmin, (*handler).enableUser},
	{"POST", "/v1/users/{name}/unlock", RoleAdmin, (*handler).unlockUser},
	{"POST", "/v1/users/{name}/revoke", RoleAdmin, (*handler).revokeUser},
	{"DELETE", "/v1/users/{name}/consents/{client_id}", RoleAdmin, (*handler).revokeConsent},

	{"GET", "/v1/clients", RoleRead, (*handler).listClients},
	{"POST", "/v1/clients", RoleAdmin, (*handler).createClient},
	{"GET", "/v1/clients/{id}", RoleRead, (*handler).getClient},
	{"PATCH", "/v1/clients/{id}", RoleAdmin, (*handler).updateClient},
	{"DELETE", "/v1/clients/{id}", RoleAdmin, (*handler).deleteClient},
	{"POST", "/v1/clients/{id}/rotate-secret", RoleAdmin, (*handler).rotateSecret},
	{"POST", "/v1/clients/{id}/revoke", RoleAdmin, (*handler).revokeClient},

	{"GET", "/v1/keys", RoleRead, (*handler).listKeys},
	{"POST", "/v1/keys/rotate", RoleAdmin, (*handler).rotateKey},
	{"POST", "/v1/keys/{kid}/retire", RoleAdmin, (*handler).retireKey},

	{"GET", "/v1/migrations", RoleRead, (*handler).migrations},
}

// NewHandler returns the admin API. The service's own audit events are
// written to svc's logger; logger gets the one audit event of each call
// and any unexpected failure.
func NewHandler(logger *slog.Logger, svc *admin.Service, cfg Config) (http.Handler, error) {
	if logger == nil || svc == nil {
		return nil, errors.New("adminapi: a logger and an admin service are required")
	}
	if cfg.MigrationStatus == nil {
		return nil, errors.New("adminapi: a MigrationStatus function is required")
	}
	h := &handler{logger: logger, svc: svc, tokens: slices.Clone(cfg.Tokens), kek: cfg.KEK,
		status: cfg.MigrationStatus, now: cfg.Now}
	if h.now == nil {
		h.now = time.Now
	}
	h.mux = http.NewServeMux()
	for _, rt := range routes {
		h.mux.Handle(rt.method+" "+rt.path, h.serve(rt))
	}
	// Whatever the mux does not route is a problem too, audited like the rest.
	h.fallback = h.serve(route{fn: (*handler).unrouted})
	return h, nil
}

// ServeHTTP routes r, answering a path or method the routes do not have
// with a problem rather than the mux's plain text.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern != "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	h.fallback.ServeHTTP(w, r)
}

// unrouted is 405 with Allow when the path has routes for other methods,
// and 404 otherwise.
func (h *handler) unrouted(c *call) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := *c.r
		probe.Method = m
		if _, pattern := h.mux.Handler(&probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		return problem(http.StatusNotFound, TypeNotFound, "no such endpoint")
	}
	p := problem(http.StatusMethodNotAllowed, TypeMethod, "this endpoint does not answer that method")
	p.headers = map[string]string{"Allow": strings.Join(allow, ", ")}
	return p
}

// statusWriter remembers the status written, for the audit event.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// serve authenticates, authorizes, runs and audits one route.
func (h *handler) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The request id joins this call's audit record to the service's
		// records of the change, as on the main listener.
		id := reqid.FromHeader(r.Header.Get(reqid.Header))
		w.Header().Set(reqid.Header, id)
		r = r.WithContext(reqid.With(r.Context(), id))
		sw := &statusWriter{ResponseWriter: w}
		var who principal
		err := func() error {
			if rt.role == "" {
				return rt.fn(h, &call{w: sw, r: r, svc: h.svc})
			}
			var err error
			if who, err = h.authenticate(r); err != nil {
				return err
			}
			if err := checkRole(who, rt.role); err != nil {
				return err
			}
			svc := h.svc.WithLogger(h.logger.With("via", "adminapi", "actor", who.name))
			return rt.fn(h, &call{w: sw, r: r, svc: svc, who: who})
		}()
		switch {
		case err == nil:
		case sw.status != 0:
			// The answer had begun (a failed write of its body): too late
			// for a problem, and the cause is most likely the client's.
			h.logger.WarnContext(r.Context(), "admin api answer cut short", "method", r.Method, "route", rt.path, "err", err)
		default:
			render(r.Context(), h.logger, sw, r, err)
		}
		route := rt.path
		if route == "" {
			route = "unknown"
		}
		// Never the token, the body or the raw path: the route pattern
		// and who called.
		audit.Log(r.Context(), h.logger, eventCall, "method", r.Method, "route", route, "status", sw.status,
			"actor", who.name, "role", string(who.role), "auth", who.via, "duration", time.Since(start))
	})
}

// writeJSON answers v with status; no-store, since answers may carry a
// generated secret and always carry account data.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func noContent(w http.ResponseWriter) error {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decode reads the request body into v: JSON, at most MaxBodyBytes, no
// unknown field, one value. Anything else is a 400, 413 or 415 problem
// whose detail echoes none of the input. With optional, an empty body
// leaves v as it is.
func decode(c *call, v any, optional bool) error {
	r := c.r
	body := http.MaxBytesReader(c.w, r.Body, MaxBodyBytes)
	if optional && r.ContentLength == 0 {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return problem(http.StatusUnsupportedMediaType, TypeMediaType, "the body must be application/json")
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badBody(err)
	}
	if err := dec.Decode(new(json.RawMessage)); !errors.Is(err, io.EOF) {
		if err == nil {
			return problem(http.StatusBadRequest, TypeMalformed, "the body must hold one JSON value")
		}
		return badBody(err)
	}
	return nil
}

// badBody explains a decoding failure without quoting the body: an
// unknown field's name is the caller's input, of any length.
func badBody(err error) error {
	var (
		tooLarge  *http.MaxBytesError
		typeError *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return problem(http.StatusRequestEntityTooLarge, TypeTooLarge, fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes))
	case errors.As(err, &typeError):
		// Field is a path of our own field names, so it is bounded.
		return problem(http.StatusBadRequest, TypeMalformed, fmt.Sprintf("field %q: wrong type", typeError.Field))
	case errors.Is(err, io.EOF):
		return problem(http.StatusBadRequest, TypeMalformed, "the body is empty")
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
		return problem(http.StatusBadRequest, TypeMalformed, "the body is not valid JSON")
	}
	// encoding/json reports an unknown field with a plain error only.
	return problem(http.StatusBadRequest, TypeMalformed, "the body has an unknown field or a bad value")
}

// page is one page of a list.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// paginate answers the page of all (sorted by key, as the store lists
// them) after the request's cursor. The cursor is the last key of the page
// before, opaque to callers.
func paginate[S, T any](c *call, all []S, key func(S) string, view func(S) T) error {
	q := c.r.URL.Query()
	limit := DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return problem(http.StatusBadRequest, TypeMalformed, fmt.Sprintf("limit: want a number from 1 to %d", MaxLimit))
		}
		limit = n
	}
	after := ""
	if s := q.Get("cursor"); s != "" {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(raw) == 0 || !utf8.Valid(raw) {
			return problem(http.StatusBadRequest, TypeMalformed, "cursor: not one this server gave")
		}
		after = string(raw)
	}
	slices.SortFunc(all, func(a, b S) int { return strings.Compare(key(a), key(b)) })
	start := 0
	if after != "" {
		start, _ = slices.BinarySearchFunc(all, after, func(s S, k string) int { return strings.Compare(key(s), k) })
		for start < len(all) && key(all[start]) <= after {
			start++
		}
	}
	end := min(start+limit, len(all))
	p := page[T]{Items: make([]T, 0, end-start)}
	for _, s := range all[start:end] {
		p.Items = append(p.Items, view(s))
	}
	if end < len(all) {
		p.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(key(all[end-1])))
	}
	return writeJSON(c.w, http.StatusOK, p)
}
