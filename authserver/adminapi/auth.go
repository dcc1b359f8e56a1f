package adminapi

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Role is what a caller may do: RoleAdmin reads and changes, RoleRead only
// reads.
type Role string

const (
	RoleAdmin Role = "admin"
	RoleRead  Role = "read"
)

// allows reports whether a caller of role r may call a route that needs need.
func (r Role) allows(need Role) bool {
	return r == RoleAdmin || (r == RoleRead && need == RoleRead)
}

func parseRole(s string) (Role, bool) {
	switch r := Role(s); r {
	case RoleAdmin, RoleRead:
		return r, true
	}
	return "", false
}

// Token is one admin token the server accepts: never the token itself, only
// its SHA-256, so that the file is no secret worth stealing.
type Token struct {
	Role Role
	Name string // who holds it, for the audit log
	hash [sha256.Size]byte
}

// maxTokenFileBytes bounds the token file: a few lines by nature.
const maxTokenFileBytes = 1 << 20

// LoadTokens reads a token file; see ParseTokens for its format.
func LoadTokens(path string) ([]Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("admin token file: %w", err)
	}
	defer f.Close()
	tokens, err := ParseTokens(io.LimitReader(f, maxTokenFileBytes))
	if err != nil {
		return nil, fmt.Errorf("admin token file %s: %w", path, err)
	}
	return tokens, nil
}

// ParseTokens reads one token a line: "ROLE NAME SHA256-HEX", where ROLE is
// admin or read, NAME names the holder in the audit log, and SHA256-HEX is
// the hex SHA-256 of the token (printf %s "$TOKEN" | sha256sum). Blank lines
// and lines starting with # are skipped. Every bad line is reported, by
// number only: a line might hold a token pasted by mistake.
func ParseTokens(r io.Reader) ([]Token, error) {
	var (
		tokens []Token
		errs   []error
		seen   = map[[sha256.Size]byte]bool{}
	)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			errs = append(errs, fmt.Errorf("line %d: want ROLE NAME SHA256-HEX", n))
			continue
		}
		role, ok := parseRole(fields[0])
		if !ok {
			errs = append(errs, fmt.Errorf("line %d: role: want admin or read", n))
			continue
		}
		raw, err := hex.DecodeString(fields[2])
		if err != nil || len(raw) != sha256.Size {
			errs = append(errs, fmt.Errorf("line %d: want the 64 hex digits of the token's SHA-256", n))
			continue
		}
		t := Token{Role: role, Name: fields[1]}
		copy(t.hash[:], raw)
		if seen[t.hash] {
			errs = append(errs, fmt.Errorf("line %d: the same token twice", n))
			continue
		}
		seen[t.hash] = true
		tokens = append(tokens, t)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	if len(tokens) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no token"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return tokens, nil
}

// HashToken is the SHA-256 hex of a token, as the token file holds it.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// principal is who made a call.
type principal struct {
	role Role
	name string
	via  string // "token" or "mtls"
}

// maxTokenBytes bounds a presented token: longer is no token of ours.
const maxTokenBytes = 1024

// authenticate finds the caller of r: a bearer token if the request has an
// Authorization header, otherwise a client certificate verified by the TLS
// handshake whose subject's OU names a role. It answers a 401 problem when
// neither is there or the token is unknown.
func (h *handler) authenticate(r *http.Request) (principal, error) {
	if authz := r.Header.Get("Authorization"); authz != "" {
		scheme, token, ok := strings.Cut(authz, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxTokenBytes {
			return principal{}, unauthorized(`error="invalid_request"`, "want Authorization: Bearer TOKEN")
		}
		if t, ok := h.lookupToken(token); ok {
			return principal{role: t.Role, name: t.Name, via: "token"}, nil
		}
		return principal{}, unauthorized(`error="invalid_token"`, "unknown token")
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		leaf := r.TLS.VerifiedChains[0][0]
		p := principal{name: leaf.Subject.CommonName, via: "mtls"}
		// The highest role among the OUs: a certificate made for admins
		// may also name read.
		for _, ou := range leaf.Subject.OrganizationalUnit {
			if role, ok := parseRole(ou); ok && (p.role == "" || role == RoleAdmin) {
				p.role = role
			}
		}
		if p.role == "" {
			return principal{}, forbidden("the client certificate names no role (OU admin or read)")
		}
		return p, nil
	}
	return principal{}, unauthorized("", "authentication required")
}

// lookupToken compares the token's hash with every known hash in constant
// time, without stopping at a match, so that timing tells nothing about
// which entry (if any) matched.
func (h *handler) lookupToken(token string) (Token, bool) {
	sum := sha256.Sum256([]byte(token))
	var found Token
	match := 0
	for _, t := range h.tokens {
		eq := subtle.ConstantTimeCompare(sum[:], t.hash[:])
		if eq == 1 {
			found = t
		}
		match |= eq
	}
	return found, match == 1
}

// realm names the admin API in the Bearer challenge (RFC 6750 §3).
const realm = "authsvc-admin"

func unauthorized(params, detail string) *Problem {
	p := problem(http.StatusUnauthorized, TypeUnauthorized, detail)
	challenge := `Bearer realm="` + realm + `"`
	if params != "" {
		challenge += ", " + params
	}
	p.headers = map[string]string{"WWW-Authenticate": challenge}
	return p
}

func forbidden(detail string) *Problem {
	return problem(http.StatusForbidden, TypeForbidden, detail)
}

// checkRole answers 403 unless p may call a route needing need.
func checkRole(p principal, need Role) error {
	if !p.role.allows(need) {
		return forbidden(fmt.Sprintf("this call needs the %s role", need))
	}
	return nil
}
