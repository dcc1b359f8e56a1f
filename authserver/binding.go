package authserver

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/example/authsvc/authserver/dpop"
	"github.com/example/authsvc/authserver/internal/issuer"
	"github.com/example/authsvc/store"
)

// tokenTypeDPoP is the token_type of an access token bound to a key (RFC 9449 §5, §6.2).
const tokenTypeDPoP = "DPoP"

func errInvalidDPoPProof(desc string, cause error) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_dpop_proof", description: desc, cause: cause}
}

func errInvalidTarget() *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_target",
		description: "a requested resource is not one this client may ask for"}
}

// tokenProof checks the DPoP proof of a token request (RFC 9449 §5) and
// returns the thumbprint of its key, "" when the request has none and the
// client does not require one.
func (s *server) tokenProof(r *http.Request, client store.Client) (string, error) {
	proof, present, err := dpop.FromRequest(r.Header)
	if err != nil {
		s.metrics.dpopRefused.WithLabelValues(dpop.Reason(err)).Inc()
		return "", errInvalidDPoPProof("the DPoP header is malformed", err)
	}
	if !present {
		if client.RequireDPoP {
			s.metrics.dpopRefused.WithLabelValues("missing").Inc()
			return "", errInvalidDPoPProof("this client must send a DPoP proof", nil)
		}
		return "", nil
	}
	p, err := s.dpop.Check(proof, r.Method, s.tokenURL, "", "")
	if err != nil {
		s.metrics.dpopRefused.WithLabelValues(dpop.Reason(err)).Inc()
		return "", errInvalidDPoPProof("the DPoP proof is invalid", err)
	}
	return p.JKT, nil
}

// newBinding is the audience and DPoP binding of a new grant's tokens:
// the resources asked for (RFC 8707), or the configured default audience;
// the access token bound to the proof's key, and for a public client the
// refresh token too (RFC 9449 §5).
func (s *server) newBinding(req tokenRequest) (issuer.Binding, error) {
	aud, err := req.client.Audience(req.resources, s.cfg.DefaultAudience)
	if err != nil {
		return issuer.Binding{}, errInvalidTarget()
	}
	b := issuer.Binding{Audience: aud, JKT: req.jkt}
	if req.client.Public() {
		b.RefreshJKT = req.jkt
	}
	return b, nil
}

// refreshBinding is the binding of the access token a refresh of old
// issues. A refresh token bound to a key is refreshed only with a proof by
// that key. The audience is the grant's, or narrower when resources are
// asked for (RFC 8707 §2.2), never wider.
func (s *server) refreshBinding(req tokenRequest, old store.Token) (issuer.Binding, error) {
	if old.JKT != "" && subtle.ConstantTimeCompare([]byte(req.jkt), []byte(old.JKT)) != 1 {
		reason := "jkt"
		if req.jkt == "" {
			reason = "missing"
		}
		s.metrics.dpopRefused.WithLabelValues(reason).Inc()
		return issuer.Binding{}, errInvalidDPoPProof("this refresh token is bound to a DPoP key: send a proof signed with it", errors.New("refresh without the bound key"))
	}
	b := issuer.Binding{Audience: old.Audience, JKT: req.jkt}
	if len(req.resources) > 0 {
		aud, err := req.client.Audience(req.resources, "")
		if err != nil {
			return issuer.Binding{}, errInvalidTarget()
		}
		granted := strings.Fields(old.Audience)
		for _, a := range strings.Fields(aud) {
			if !slices.Contains(granted, a) {
				return issuer.Binding{}, errInvalidTarget()
			}
		}
		b.Audience = aud
	}
	return b, nil
}

// newDPoPVerifier checks DPoP proofs with the algorithms algs (the
// package's defaults when empty), on the clock now (time.Now when nil).
func newDPoPVerifier(algs []string, now func() time.Time) (*dpop.Verifier, error) {
	cfg := dpop.Config{Now: now}
	for _, a := range algs {
		cfg.Algs = append(cfg.Algs, jose.SignatureAlgorithm(a))
	}
	v, err := dpop.NewVerifier(cfg)
	if err != nil {
		return nil, fmt.Errorf("DPoP algorithms: %w", err)
	}
	return v, nil
}
