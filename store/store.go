// Package store is the storage contract shared by the authorization server,
// the resource service and every backend (store/sqlite, store/postgres).
//
// Backends keep no clock of their own: every method whose outcome depends on
// time takes `now` from the caller, so expiry is testable without sleeping
// and replicas agree with the server that asked.
//
// Tokens and client secrets are never stored in the clear: a Token is keyed by
// the hex SHA-256 of its value and a Client holds the SHA-256 of its secret,
// so a copy of the database yields nothing usable.
//
// A grant (a family: the first access/refresh pair and every rotation after
// it) occupies O(1) rows however often it is refreshed: one grant record
// holding the hash of its current refresh token, plus the current access
// token(s). A rotation replaces the refresh hash in place and deletes the
// family's older access tokens, so the database does not grow with
// refreshes; the audit trail belongs in the log. An earlier refresh token is
// still recognised as reuse because its value names its grant (see
// NewRefreshTokenValue): a grant whose current hash differs from the one
// presented has been rotated past it.
package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors; backends wrap them, callers test with errors.Is.
var (
	// ErrNotFound: no such row (or, for owner-scoped items, not the caller's).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a unique key (username, client id, token hash) is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrTokenReused: a refresh token of a live grant that is not the
	// grant's current one (it has been rotated already) was presented. The
	// backend has revoked the whole grant before returning this
	// (RFC 9700 §4.14.2).
	ErrTokenReused = errors.New("refresh token reused")
	// ErrConflict: the record changed after the caller read it (its
	// Version moved on), or it is gone. Nothing was written; read it
	// again and decide again.
	ErrConflict = errors.New("changed concurrently")
	// ErrClientChanged and ErrUserChanged are the ErrConflict of a token
	// issuance (see Versions): the client, or the user, is not the one
	// the request was checked against any more.
	ErrClientChanged = fmt.Errorf("client %w", ErrConflict)
	ErrUserChanged   = fmt.Errorf("user %w", ErrConflict)
)

// User is a resource owner who logs in with the password grant.
type User struct {
	Username     string
	PasswordHash []byte // bcrypt
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// Version moves on with every change of the record (see Versions).
	// The store sets it: CreateUser ignores it, UpdateUser writes only
	// over the version it names.
	Version int64
}

// Client is an OAuth2 client. A client without a secret hash is public.
type Client struct {
	ID         string
	SecretHash []byte   // SHA-256 of the secret; nil or empty for public clients
	GrantTypes []string // e.g. "password", "client_credentials", "refresh_token"
	Scopes     []string // the scopes the client may ask for
	Introspect bool     // may call the introspection endpoint
	// RedirectURIs are where /authorize may send the user back
	// (ValidateRedirectURI, Client.MatchRedirectURI).
	RedirectURIs []string
	// FirstParty clients are the operator's own: the user is not asked to
	// consent to them, unless they are public (nothing then assures who
	// gets the code: the consent page is always shown).
	FirstParty bool
	// AccessTokenFormat is AccessTokenOpaque (the default, also for "")
	// or AccessTokenJWT (RFC 9068).
	AccessTokenFormat string
	// RequireDPoP refuses the client's token requests that carry no DPoP
	// proof (RFC 9449 §5.2).
	RequireDPoP bool
	// Resources are the RFC 8707 resource indicators the client may ask
	// tokens for: a token's audience is among them or the server's default.
	Resources []string
	CreatedAt time.Time
	// Version moves on with every change of the record (see Versions),
	// as User.Version does.
	Version int64
}

// Versions are the versions of the client and of the user (zero for a
// client's own token) that a token request was authenticated and checked
// against. CreateTokens and RotateRefreshToken insert nothing unless both
// are still current when they write, in the same transaction as the
// insert: a login that checked a password just changed, a request
// authenticated with a secret just rotated or for a client just deleted,
// or a refresh racing a disable gets ErrUserChanged or ErrClientChanged
// instead of a token that would outlive the change (the change ends every
// token that was stored before it, and none can be stored after it).
type Versions struct {
	Client int64
	User   int64
}

// NewVersion is the version of a record just created. It is random, not 1,
// so that a user or client deleted and created again under the same name
// never repeats a version that a request in flight may have read; each
// change then adds one.
func NewVersion() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return int64(binary.BigEndian.Uint64(b[:])>>2) + 1
}

// Public reports whether the client has no secret.
func (c Client) Public() bool { return len(c.SecretHash) == 0 }

// TokenKind tells access tokens from refresh tokens. The values are the
// RFC 7009 token_type_hint / RFC 7662 token_use spellings.
type TokenKind string

// Token kinds.
const (
	AccessToken  TokenKind = "access_token"
	RefreshToken TokenKind = "refresh_token"
)

// Token is one issued token. Every token descending from one grant (the
// first access/refresh pair and all rotations after it) shares a FamilyID,
// so revoking a refresh token or detecting its reuse can end the whole grant.
//
// A refresh token is the grant's current one: the backend keeps it in the
// grant record, not as a row of its own, and a grant has at most one.
type Token struct {
	Hash      string // hex SHA-256 of the token value; the primary key
	Kind      TokenKind
	FamilyID  string
	ClientID  string
	Username  string // empty for client-credentials tokens
	Scope     string // space-delimited, as in RFC 6749 §3.3
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Audience is the space-delimited resource indicators (RFC 8707) the
	// token is for; on a refresh token, what the grant's access tokens
	// are for unless a refresh asks for another.
	Audience string
	// JKT, when set, binds the token to a DPoP key (RFC 9449 §6): the
	// RFC 7638 thumbprint a proof's key must have. On a refresh token it
	// binds the grant's every refresh (public clients, §5).
	JKT string
	// GrantedAt, on a refresh token read back, is when its grant began (the
	// IssuedAt of the grant's first refresh token): AUTH_GRANT_MAX_AGE
	// counts from it. Ignored when writing.
	GrantedAt time.Time
	// Rotated marks a refresh token spent before grants were kept as one
	// record (before migration 00002): such rows are kept until they
	// expire so that their reuse is still detected. Nothing sets it any
	// more; writing a token with it set is refused.
	Rotated bool
}

// Active reports whether the token may still be used at now: not expired and
// not a spent legacy refresh token.
func (t Token) Active(now time.Time) bool {
	return now.Before(t.ExpiresAt) && !t.Rotated
}

// LoginPolicy is the brute-force protection of the password grant
// (RFC 6749 §4.3.2).
type LoginPolicy struct {
	// Threshold is the number of consecutive failures that lock a username.
	Threshold int
	// Lockout is the first lockout; each further lockout doubles it.
	Lockout time.Duration
	// MaxLockout caps the growth.
	MaxLockout time.Duration
}

// Item is one entry of the resource service. Owner is an opaque key chosen by
// the resource service (it keeps users and clients in separate namespaces).
type Item struct {
	ID        string
	Owner     string
	Name      string
	CreatedAt time.Time
}

// Pinger is implemented by every backend; readiness probes call it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Users stores resource owners.
type Users interface {
	// CreateUser inserts u with a NewVersion; ErrAlreadyExists if the name
	// is taken, by a user or by a client (see CreateClient).
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, username string) (User, error) // ErrNotFound
	// UpdateUser replaces PasswordHash, Disabled and UpdatedAt and moves
	// the version on, if the stored version is still u.Version:
	// ErrConflict otherwise, ErrNotFound if there is no such user. When
	// the password hash changes or the user becomes disabled, every grant
	// and token of the user is deleted in the same transaction (as
	// RevokeUserGrants), so a password change ends what the old password
	// granted and enabling the user again revives nothing; and since the
	// version moved on, no token request checked against the old record
	// can store a token after it (see Versions).
	UpdateUser(ctx context.Context, u User) error
	// RehashPassword replaces the password hash of username by hash, a
	// hash of the same password at another cost, if the stored version is
	// still version (ErrConflict otherwise). The password did not change,
	// so the version stays and no grant ends.
	RehashPassword(ctx context.Context, username string, version int64, hash []byte) error
	ListUsers(ctx context.Context) ([]User, error) // by username
	// DeleteUser removes the user, every grant, token, code, session and
	// consent of the user and its login-failure record in one
	// transaction; ErrNotFound. A user
	// created again under the name starts with nothing of the old one.
	DeleteUser(ctx context.Context, username string) error
}

// Clients stores OAuth2 clients.
type Clients interface {
	// CreateClient inserts c with a NewVersion; ErrAlreadyExists if the id
	// is taken, by a client or by a user: a token's subject is a username
	// or a client id, and the two must never name the same principal
	// (RFC 9700 §4.15). The database enforces it, so two administrators
	// racing cannot create both.
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error) // ErrNotFound
	ListClients(ctx context.Context) ([]Client, error)        // by id
	// UpdateClient replaces SecretHash, GrantTypes, Scopes, Introspect,
	// RedirectURIs, FirstParty, AccessTokenFormat, RequireDPoP and
	// Resources of c.ID (CreatedAt stays) and moves the version on, if the stored
	// version is still c.Version: ErrConflict otherwise, ErrNotFound if
	// there is no such client. No token request authenticated against the
	// old record can store a token after it (see Versions). When the
	// change takes away a grant type or a scope the client had, every
	// grant, token, code and device authorization of the client is deleted
	// in the same transaction (as RevokeClientGrants): a token or refresh
	// token must never carry more than its client may now have. A new
	// secret alone
	// ends no grant (users stay signed in); the old secret stops working
	// at once because clients are read on every request, and a request
	// that authenticated with it just before gets ErrClientChanged.
	UpdateClient(ctx context.Context, c Client) error
	// DeleteClient removes the client with every grant, token, code,
	// device authorization and consent of it in one transaction;
	// ErrNotFound.
	DeleteClient(ctx context.Context, id string) error
}

// Tokens stores issued tokens by hash.
type Tokens interface {
	// CreateTokens inserts all tokens in one transaction (an access token and
	// its refresh token are issued together or not at all), all of one
	// client and one user (or none). A refresh token starts its grant:
	// ErrAlreadyExists if a hash is taken or the family already has a
	// grant. ErrClientChanged or ErrUserChanged, and nothing inserted, if
	// the client or the user is not at the version v names any more (or
	// is gone, or the user is disabled).
	CreateTokens(ctx context.Context, v Versions, tokens ...Token) error
	// GetToken returns the token whatever its expiry; the caller decides
	// with Token.Active. A refresh token is found only while it is its
	// grant's current one. ErrNotFound if there is no such token.
	GetToken(ctx context.Context, hash string) (Token, error)
	// GetTokenForIntrospection is GetToken that also reports, read in the
	// same query, whether the token's user may still use it: userOK is
	// false when the token names a user who no longer exists or is
	// disabled, true for a client token. It makes introspection one store
	// round trip for the token instead of two.
	GetTokenForIntrospection(ctx context.Context, hash string) (t Token, userOK bool, err error)
	// IntrospectionLookup is GetClient(clientID) and
	// GetTokenForIntrospection(tokenHash) read in one query, so an
	// introspection request makes one store round trip. Nothing is cached:
	// a rotated secret or a revoked token counts at once, on every replica.
	// err is ErrNotFound only when there is no such client. A token that
	// does not exist (and any token when tokenHash is empty) comes back as
	// the zero Token, with userOK false; otherwise t and userOK are what
	// GetTokenForIntrospection returns. The store judges nothing: the
	// caller checks the secret and the client's permission before it uses t.
	IntrospectionLookup(ctx context.Context, clientID, tokenHash string) (c Client, t Token, userOK bool, err error)
	// GetGrant returns the current refresh token of grant familyID (its
	// Hash is that token's), whatever its expiry; ErrNotFound if the grant
	// has ended or never had a refresh token.
	GetGrant(ctx context.Context, familyID string) (Token, error)
	// RotateRefreshToken atomically replaces oldHash, the current refresh
	// token of grant familyID, by the refresh token among newTokens, deletes
	// the grant's access tokens and inserts the new ones (all newTokens
	// carry familyID; the grant keeps its GrantedAt). Exactly one of any
	// number of concurrent calls for one oldHash succeeds, across processes.
	// ErrNotFound if the grant has ended or its refresh token is expired at
	// now; ErrTokenReused if oldHash is not the grant's current refresh
	// token, in which case the whole grant has been deleted.
	// ErrClientChanged or ErrUserChanged, and nothing changed, as for
	// CreateTokens; the grant's user is the one the new tokens name.
	RotateRefreshToken(ctx context.Context, familyID, oldHash string, now time.Time, v Versions, newTokens ...Token) error
	// DeleteToken removes one token (a refresh token with its grant record,
	// leaving the grant's access tokens to expire); no error if it does not
	// exist.
	DeleteToken(ctx context.Context, hash string) error
	// DeleteFamily ends a grant: its record and every token of the family;
	// no error if none exist.
	DeleteFamily(ctx context.Context, familyID string) error
	// RevokeUserGrants ends every grant of username and deletes all its
	// tokens, codes, device authorizations it approved, and sessions
	// ("sign out everywhere"); no error if there are none. UpdateUser
	// does the same when the password changes or the user is disabled.
	RevokeUserGrants(ctx context.Context, username string) error
	// RevokeClientGrants ends every grant of clientID and deletes all its
	// tokens, client-credentials ones included, and its codes and device
	// authorizations not yet redeemed, so that none starts a grant
	// afterwards; no error if there are none. UpdateClient does the same
	// when it narrows the client.
	RevokeClientGrants(ctx context.Context, clientID string) error
	// DeleteExpired removes at most limit tokens that expired before now
	// (a grant whose refresh token expired counts as one), and stale
	// login-failure records, and at most limit each of the codes, device
	// authorizations, sessions and consents expired before now, and
	// reports how many rows it removed in all (at most limit of each
	// kind).
	// Callers loop until it returns fewer than limit; each call holds its
	// locks only briefly, and concurrent callers (replicas) are safe.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

// Logins keeps the per-username failure state of the password grant. It lives
// in the store so that it holds across restarts and replicas.
type Logins interface {
	// BeginLogin reserves one password attempt for username at now, as
	// p.Attempt decides it: refused, without counting anything, while the
	// username is locked; otherwise counted as a failure before the
	// password is checked (so N parallel guesses cannot slip past the
	// threshold), the attempt that reaches the threshold locking the name
	// (and itself still allowed).
	BeginLogin(ctx context.Context, username string, now time.Time, p LoginPolicy) (LoginAttempt, error)
	// LoginSucceeded clears the failure count, lock and lockout history.
	LoginSucceeded(ctx context.Context, username string) error
}

// AuthStore is everything the authorization server and authctl need.
type AuthStore interface {
	Pinger
	Users
	Clients
	Tokens
	Logins
	Authorizations
	SigningKeys
	Close() error
}

// Items stores the resource service's items, always scoped by owner.
type Items interface {
	// CreateItem inserts it unless its owner already has maxPerOwner items:
	// ErrQuotaExceeded then, and nothing is stored. Exact under any number
	// of concurrent calls, across processes: an owner with room for k more
	// gets exactly k of them. ErrAlreadyExists if the id is taken; an error
	// if it.Name breaks ValidateItemName or maxPerOwner is below 1.
	CreateItem(ctx context.Context, it Item, maxPerOwner int) error
	// ListItems returns at most limit (1 to MaxItemsPage) of owner's items,
	// newest first (ties by id, descending), starting after the position
	// after if it is not nil. Paging by position, not offset, neither
	// repeats nor skips an item that existed before the first page when
	// newer items are inserted between pages.
	ListItems(ctx context.Context, owner string, after *ItemCursor, limit int) ([]Item, error)
	GetItem(ctx context.Context, owner, id string) (Item, error) // ErrNotFound, also for another owner's item
	DeleteItem(ctx context.Context, owner, id string) error      // ErrNotFound, also for another owner's item
}

// ItemStore is everything the resource service needs.
type ItemStore interface {
	Pinger
	Items
	Close() error
}
