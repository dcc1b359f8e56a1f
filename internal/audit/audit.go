// Package audit writes audit events, the one shape every audit event of
// both services and authctl has: a record at info level under the message
// "audit", with an event field naming the fact. It depends on log/slog
// only, so that anything may import it.
package audit

import (
	"context"
	"log/slog"
)

// Log writes one audit event with args. Callers pass no secret, password,
// hash or token in args.
func Log(ctx context.Context, logger *slog.Logger, event string, args ...any) {
	logger.Log(ctx, slog.LevelInfo, "audit", append([]any{"event", event}, args...)...)
}
