package authserver

import (
	"context"

	"github.com/example/authsvc/internal/audit"
)

// Audit events: one log record per security-relevant fact, with an event
// field, at info level under the message "audit". None carries a secret,
// a password or a token.
const (
	eventLoginSucceeded = "login_succeeded"
	eventLoginFailed    = "login_failed"
	eventLoginLocked    = "login_locked"
	// eventLoginRaced: the password was right, but the user changed
	// (passwd, disable, delete) before the tokens were stored; none were.
	eventLoginRaced           = "login_raced"
	eventTokenIssued          = "token_issued"
	eventRefreshReuseDetected = "refresh_reuse_detected"
	eventTokenRevoked         = "token_revoked"

	// Browser and device login.
	eventConsentGranted = "consent_granted"
	eventConsentDenied  = "consent_denied"
	eventCodeIssued     = "code_issued"
	eventCodeRedeemed   = "code_redeemed"
	// eventCodeReused: a spent authorization code was presented again;
	// the grant it started has been ended (RFC 6749 §4.1.2).
	eventCodeReused                 = "code_reused"
	eventDeviceAuthorizationStarted = "device_authorization_started"
	eventDeviceApproved             = "device_approved"
	eventDeviceDenied               = "device_denied"
	// eventUserCodeMissed: a user code entered at /device that is not
	// pending (mistyped, expired, or guessed).
	eventUserCodeMissed = "user_code_missed"
	eventLogout         = "logout"
)

// authorizationEvents are the events counted in
// authsvc_authorization_events_total{event}.
var authorizationEvents = []string{eventConsentGranted, eventConsentDenied, eventCodeIssued, eventCodeRedeemed, eventCodeReused,
	eventDeviceAuthorizationStarted, eventDeviceApproved, eventDeviceDenied, eventUserCodeMissed, eventLogout}

// audit records event with its attributes and counts it in the metrics
// that follow it. It is the one place events are written, so that each
// fact is one line at its call site.
func (s *server) audit(ctx context.Context, event string, args ...any) {
	switch event {
	case eventLoginFailed:
		s.metrics.loginFailures.Inc()
	case eventLoginLocked:
		// Lock starts and refusals of locked names are counted where the
		// attempt is decided (beginLogin).
		s.metrics.loginFailures.Inc()
	case eventRefreshReuseDetected:
		s.metrics.refreshReuse.Inc()
	case eventConsentGranted, eventConsentDenied, eventCodeIssued, eventCodeRedeemed, eventCodeReused,
		eventDeviceAuthorizationStarted, eventDeviceApproved, eventDeviceDenied, eventUserCodeMissed, eventLogout:
		s.metrics.authorizationEvents.WithLabelValues(event).Inc()
	case eventTokenIssued:
		for i := 0; i+1 < len(args); i += 2 {
			if g, ok := args[i+1].(string); ok && args[i] == "grant_type" {
				if _, known := s.grants[g]; known {
					s.metrics.tokensIssued.WithLabelValues(g).Inc()
				}
			}
		}
	}
	for i := 0; i+1 < len(args); i += 2 {
		if v, ok := args[i+1].(string); ok {
			args[i+1] = bounded(v)
		}
	}
	audit.Log(ctx, s.logger, event, args...)
}
