package admin

import (
	"context"
	"log/slog"

	"github.com/example/authsvc/internal/audit"
)

// Audit events of admin changes, whoever makes them (authctl, bootstrap):
// one log record per change, at info level under the message "audit" with
// an event field, as the server's own audit events. None carries a secret,
// a password or a hash.
const (
	eventUserCreated         = "user_created"
	eventUserPasswordChanged = "user_password_changed"
	eventUserDisabled        = "user_disabled"
	eventUserEnabled         = "user_enabled"
	eventUserUnlocked        = "user_unlocked"
	eventUserGrantsRevoked   = "user_grants_revoked"
	eventConsentRevoked      = "consent_revoked"
	eventUserDeleted         = "user_deleted"

	eventClientCreated       = "client_created"
	eventClientUpdated       = "client_updated"
	eventClientSecretRotated = "client_secret_rotated"
	eventClientGrantsRevoked = "client_grants_revoked"
	eventClientDeleted       = "client_deleted"

	eventKeyRotated = "signing_key_rotated"
	eventKeyRetired = "signing_key_retired"
)

// audit records one admin change.
func (s *Service) audit(ctx context.Context, event string, args ...any) {
	audit.Log(ctx, s.logger, event, args...)
}

// WithLogger returns a copy of s whose audit events go to logger: the
// admin API's copy names the caller in each of them.
func (s *Service) WithLogger(logger *slog.Logger) *Service {
	c := *s
	c.logger = logger
	return &c
}
