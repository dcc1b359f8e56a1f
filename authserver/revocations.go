package authserver

import (
	"net/http"
	"net/url"
	"time"

	"github.com/example/authsvc/internal/revocation"
)

// maxEventIDBytes bounds the Last-Event-ID a stream resumes from: ours are
// about 30 bytes, and a longer one is answered as an unknown one.
const maxEventIDBytes = 64

// handleRevocations streams revocation events (internal/revocation) to a
// resource service: a confidential client that may introspect, as the
// events serve only to keep introspection answers exact. Client
// authentication is the Authorization header (client_secret_basic): a GET
// has no form.
func (s *server) handleRevocations(w http.ResponseWriter, r *http.Request) error {
	hub := s.cfg.Revocations
	if hub == nil {
		return &oauthError{status: http.StatusNotFound, code: "not_found", description: "no such endpoint"}
	}
	src, err := s.admit(r)
	if err != nil {
		return err
	}
	client, _, err := s.authenticateClient(r, url.Values{}, src)
	if err != nil {
		return err
	}
	if !client.Introspect || client.Public() {
		return &oauthError{status: http.StatusForbidden, code: "unauthorized_client", description: "this client may not subscribe to revocations"}
	}
	last := r.Header.Get("Last-Event-ID")
	if len(last) > maxEventIDBytes {
		last = ""
	}
	sub, missed, current, reset, ok := hub.Subscribe(last)
	if !ok {
		return errBusy(5 * time.Second)
	}
	s.logger.InfoContext(r.Context(), "revocation stream subscribed", "client_id", client.ID, "resumed", !reset, "missed", len(missed))
	return revocation.Serve(w, r, sub, missed, current, reset, s.cfg.RevocationHeartbeat)
}
