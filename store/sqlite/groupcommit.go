package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// Group commit. Every token issuance is a write transaction, and with
// SQLite they take turns: one writer at a time, each paying for its own
// commit (appending its pages to the WAL), which costs more than its
// inserts. So CreateTokens calls that arrive while the writer is busy wait
// together, and whichever of them gets the writer next writes them all in
// one transaction, each caller's tokens under a savepoint of their own
// (sqlflow.CreateTokensTogether): each caller still gets its own result, as
// if its transaction had been alone.
//
// One transaction takes at most maxInsertsPerCommit callers, so that no
// commit grows without bound; the rest wait for the next.
const maxInsertsPerCommit = 64

// tokenInserts are the CreateTokens calls waiting for the writer.
type tokenInserts struct {
	mu      sync.Mutex
	pending []*tokenInsert
}

type tokenInsert struct {
	call sqlflow.TokenCall
	done chan error // capacity 1: the call's result
}

func (q *tokenInserts) add(r *tokenInsert) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = append(q.pending, r)
}

// take removes and returns the oldest waiting calls, at most
// maxInsertsPerCommit.
func (q *tokenInserts) take() []*tokenInsert {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.pending), maxInsertsPerCommit)
	batch := slices.Clone(q.pending[:n])
	q.pending = slices.Delete(q.pending, 0, n)
	return batch
}

// withdraw removes r if no transaction has taken it yet.
func (q *tokenInserts) withdraw(r *tokenInsert) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := slices.Index(q.pending, r)
	if i < 0 {
		return false
	}
	q.pending = slices.Delete(q.pending, i, i+1)
	return true
}

// CreateTokens inserts all tokens in one transaction if their client and
// user are still at the versions v names; a refresh token starts its
// grant's record. store.ErrAlreadyExists, store.ErrClientChanged or
// store.ErrUserChanged, and nothing inserted, if any hash or grant is
// taken or a version moved on. Concurrent calls share a commit (see
// above). A call whose context ends while it waits returns the context's
// error and inserts nothing, unless a transaction has taken it already:
// then it returns that transaction's result.
func (db *AuthDB) CreateTokens(ctx context.Context, v store.Versions, tokens ...store.Token) error {
	if len(tokens) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create tokens: %w", err)
	}
	r := &tokenInsert{call: sqlflow.TokenCall{Versions: v, Tokens: tokens}, done: make(chan error, 1)}
	db.inserts.add(r)
	for {
		select {
		case err := <-r.done:
			return err
		case db.writer <- struct{}{}:
			if ctx.Err() != nil && db.inserts.withdraw(r) {
				<-db.writer // for the next caller waiting
				return fmt.Errorf("create tokens: %w", ctx.Err())
			}
			// Whatever this transaction takes, r was added before it:
			// r is in it or in an earlier one, unless more than
			// maxInsertsPerCommit were waiting. Then r waits on.
			db.commitInserts(ctx)
		case <-ctx.Done():
			if db.inserts.withdraw(r) {
				return fmt.Errorf("create tokens: %w", ctx.Err())
			}
			return <-r.done // taken by a transaction: its result comes soon
		}
	}
}

// commitInserts writes the waiting calls in one transaction and gives each
// its result. The caller holds the writer; commitInserts gives it back.
func (db *AuthDB) commitInserts(ctx context.Context) {
	defer func() { <-db.writer }()
	batch := db.inserts.take()
	if len(batch) == 0 {
		return
	}
	answered := false
	defer func() {
		// The others in the batch wait for an answer that a panic here
		// would never send: give them one, then let the panic go on.
		if !answered {
			for _, r := range batch {
				select {
				case r.done <- errors.New("create tokens: the shared transaction failed"):
				default: // answered before the panic
				}
			}
		}
	}()
	calls := make([]sqlflow.TokenCall, len(batch))
	for i, r := range batch {
		calls[i] = r.call
	}
	// The transaction is every waiting caller's: it must not end because
	// this caller's request did.
	errs := sqlflow.CreateTokensTogether(context.WithoutCancel(ctx), db.beginHeld, calls)
	for i, r := range batch {
		r.done <- errs[i]
	}
	answered = true
}

// beginHeld begins a write transaction for a caller that holds the writer.
func (db *AuthDB) beginHeld(ctx context.Context) (sqlflow.SavepointTx, error) {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return flowTx{tx, db.prepared}, nil
}
