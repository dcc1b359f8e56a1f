package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/example/authsvc/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Subscriber is what Listen reports to: store/cached's Store.
type Subscriber interface {
	// Invalidate applies one announced change.
	Invalidate(store.Invalidation)
	// SetCurrent(true) says that every change committed from now on will
	// be announced (the subscriber flushes what it may have missed);
	// SetCurrent(false) says that some may not be.
	SetCurrent(on bool)
}

// ListenConfig tunes Listen; the zero value is the defaults.
type ListenConfig struct {
	// Heartbeat is how long the connection may stay silent before it is
	// pinged; a ping that fails or takes longer than Heartbeat marks the
	// subscriber not current. So a connection lost silently is noticed
	// within about twice Heartbeat, and a closed one at once.
	// 0 means a second.
	Heartbeat time.Duration
	// Retry is the pause between reconnection attempts; 0 means 250 ms.
	Retry time.Duration
	// OnConnect, if set, is called with the backend pid of each new
	// listening connection (tests terminate it to prove fail-closed).
	OnConnect func(pid uint32)
}

// ListenerApplicationName is the application_name of Listen's connection.
const ListenerApplicationName = "authsvc invalidation listener"

// Listen subscribes sub to the invalidations every replica's writes
// announce (migration 00006), on a connection of its own outside the pool,
// until ctx ends. sub is current only between a successful LISTEN and the
// first sign of trouble; Listen reconnects for as long as ctx lasts.
func (db *AuthDB) Listen(ctx context.Context, logger *slog.Logger, sub Subscriber, cfg ListenConfig) {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 250 * time.Millisecond
	}
	connCfg := db.pool.Config().ConnConfig.Copy()
	// Named, so that an operator sees it in pg_stat_activity.
	connCfg.RuntimeParams["application_name"] = ListenerApplicationName
	// pgx's default context handler sets a deadline on the socket, so a
	// heartbeat's timeout leaves the connection usable.
	for ctx.Err() == nil {
		served, err := db.listenOnce(ctx, connCfg, sub, cfg)
		sub.SetCurrent(false)
		if ctx.Err() != nil {
			return
		}
		if served {
			logger.WarnContext(ctx, "invalidation listener lost its connection: introspection bypasses the cache until it is back", "err", err)
		} else {
			logger.DebugContext(ctx, "invalidation listener cannot connect", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Retry):
		}
	}
}

// listenOnce runs one connection until it fails; served says whether sub
// was made current on it.
func (db *AuthDB) listenOnce(ctx context.Context, connCfg *pgx.ConnConfig, sub Subscriber, cfg ListenConfig) (served bool, err error) {
	dialCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := pgx.ConnectConfig(dialCtx, connCfg)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{store.InvalidationChannel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	if cfg.OnConnect != nil {
		cfg.OnConnect(conn.PgConn().PID())
	}
	// From here on every commit is announced to us: forget what came
	// before, then serve.
	sub.SetCurrent(true)
	for {
		waitCtx, cancel := context.WithTimeout(ctx, cfg.Heartbeat)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			if inv, ok := store.ParseInvalidation(n.Payload); ok {
				sub.Invalidate(inv)
			} else {
				// Not ours to read: forget everything rather than
				// guess what it meant.
				sub.Invalidate(store.Invalidation{Kind: store.InvalidateAll})
			}
			continue
		case ctx.Err() != nil:
			return true, ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err):
			return true, fmt.Errorf("wait: %w", err)
		}
		// Silence: prove the connection still delivers. Notifications
		// sent before the ping arrive before its answer.
		pingCtx, cancel := context.WithTimeout(ctx, cfg.Heartbeat)
		err = conn.Ping(pingCtx)
		cancel()
		if err != nil {
			return true, fmt.Errorf("heartbeat: %w", err)
		}
	}
}
