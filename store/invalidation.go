package store

// Invalidation names what a committed change may have ended, so that a
// cache of introspection answers (store/cached) can drop exactly the
// entries it concerns. Key is a token hash, a grant's family id, a
// username or a client id, as Kind says; InvalidateAll has no key.
//
// On PostgreSQL every change is announced on InvalidationChannel by
// triggers, in the transaction that makes it (migration 00006), so every
// replica hears of every change however it was made (a replica, authctl,
// a manual SQL statement); see postgres.AuthDB.Listen.
type Invalidation struct {
	Kind InvalidationKind
	Key  string
}

// InvalidationKind says what an Invalidation's Key names.
type InvalidationKind byte

// Invalidation kinds. The values are the first byte of a notification's
// payload on PostgreSQL ("t:<hash>", "g:<family>", "u:<username>",
// "c:<client id>").
const (
	InvalidateToken  InvalidationKind = 't' // one token, by hash
	InvalidateGrant  InvalidationKind = 'g' // every token of a family
	InvalidateUser   InvalidationKind = 'u' // every token of a user, and the user's state
	InvalidateClient InvalidationKind = 'c' // the client record and every token of it
	InvalidateAll    InvalidationKind = '*' // everything
)

// InvalidationChannel is the PostgreSQL LISTEN/NOTIFY channel of
// invalidations.
const InvalidationChannel = "authsvc_invalidate"

// ParseInvalidation reads a notification payload ("t:<hash>" and so on);
// ok is false for anything else.
func ParseInvalidation(payload string) (inv Invalidation, ok bool) {
	if len(payload) < 2 || payload[1] != ':' {
		return Invalidation{}, false
	}
	switch k := InvalidationKind(payload[0]); k {
	case InvalidateToken, InvalidateGrant, InvalidateUser, InvalidateClient:
		if len(payload) == 2 {
			return Invalidation{}, false
		}
		return Invalidation{Kind: k, Key: payload[2:]}, true
	case InvalidateAll:
		return Invalidation{Kind: k}, true
	}
	return Invalidation{}, false
}

// String is the notification payload of inv.
func (inv Invalidation) String() string { return string(inv.Kind) + ":" + inv.Key }
