package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"unicode/utf8"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/store"
)

// Problem types (RFC 9457 §3.1.1). They are URNs rather than URLs because
// nothing is served at them; a client branches on them, not on the title.
const (
	TypeMalformed     = "urn:authsvc:admin:malformed-request"
	TypeTooLarge      = "urn:authsvc:admin:body-too-large"
	TypeMediaType     = "urn:authsvc:admin:unsupported-media-type"
	TypeMethod        = "urn:authsvc:admin:method-not-allowed"
	TypeInvalid       = "urn:authsvc:admin:invalid"
	TypeNotFound      = "urn:authsvc:admin:not-found"
	TypeAlreadyExists = "urn:authsvc:admin:already-exists"
	TypeConflict      = "urn:authsvc:admin:conflict"
	TypeUnauthorized  = "urn:authsvc:admin:unauthorized"
	TypeForbidden     = "urn:authsvc:admin:forbidden"
	TypeInternal      = "urn:authsvc:admin:internal"
)

// maxDetailBytes bounds a problem's detail: a rule's message may quote what
// it refused (a redirect URI, a scope), and nothing unbounded is echoed.
const maxDetailBytes = 512

// Problem is an RFC 9457 problem details object. As an error on the server
// side it carries a log-only cause and the extra headers of its answer; on
// the client side (Client) it is what the server said.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`

	cause   error
	headers map[string]string
}

func (p *Problem) Error() string {
	if p.Detail != "" {
		return p.Detail
	}
	return p.Title
}

// Is lets a caller of Client test a problem with the store's and the admin
// service's sentinel errors, as it would a direct call's error.
func (p *Problem) Is(target error) bool {
	switch target {
	case store.ErrNotFound:
		return p.Type == TypeNotFound
	case store.ErrAlreadyExists:
		return p.Type == TypeAlreadyExists
	case store.ErrConflict:
		return p.Type == TypeConflict
	case admin.ErrInvalid:
		return p.Type == TypeInvalid
	}
	return false
}

func problem(status int, typ, detail string) *Problem {
	return &Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail}
}

// fromError turns what a handler returned into the problem to answer with:
// the store's and the service's sentinel errors get their own types, and
// anything unexpected is a 500 whose cause is logged, never shown.
func fromError(err error) *Problem {
	var p *Problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, store.ErrNotFound):
		// The detail names no value: a bad name in a path gets the same
		// answer as a well-formed unknown one.
		return problem(http.StatusNotFound, TypeNotFound, "no such resource")
	case errors.Is(err, store.ErrAlreadyExists):
		return problem(http.StatusConflict, TypeAlreadyExists, err.Error())
	case errors.Is(err, store.ErrConflict):
		return problem(http.StatusConflict, TypeConflict, err.Error())
	case errors.Is(err, admin.ErrInvalid):
		return problem(http.StatusBadRequest, TypeInvalid, err.Error())
	}
	p = problem(http.StatusInternalServerError, TypeInternal, "internal error")
	p.cause = err
	return p
}

// render writes p. It is the one place an error body is written.
func render(ctx context.Context, logger *slog.Logger, w http.ResponseWriter, r *http.Request, err error) int {
	p := fromError(err)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		p = problem(http.StatusServiceUnavailable, TypeInternal, "request cancelled")
	} else if p.cause != nil {
		logger.ErrorContext(ctx, "admin api request failed", "method", r.Method, "route", r.Pattern, "err", p.cause)
	}
	h := w.Header()
	for k, v := range p.headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	out := *p
	out.Detail = truncate(out.Detail, maxDetailBytes)
	_ = json.NewEncoder(w).Encode(out)
	return p.Status
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
