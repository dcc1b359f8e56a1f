package dbopen

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/authsvc/store"
)

// TraceAuth wraps st so that each store call is a span "store.METHOD", a
// child of the caller's span (a request's, or none for the cleanup loop and
// Close). Pool statistics must be taken from st, not from the wrapper.
func TraceAuth(st store.AuthStore, tp trace.TracerProvider) store.AuthStore {
	return tracedAuth{next: st, tracer: tp.Tracer("github.com/example/authsvc/store")}
}

// tracedAuth holds the store in a named field instead of embedding it: a
// method added to store.AuthStore then fails to compile here until it has
// its span, rather than passing through untraced. TestEveryMethodIsTraced
// checks that each method's span is there and named after it.
type tracedAuth struct {
	next   store.AuthStore
	tracer trace.Tracer
}

var _ store.AuthStore = tracedAuth{}

// span starts "store.NAME"; end records err, except the sentinel answers
// that are a normal outcome (not found, already exists, reuse, a record
// changed since it was read).
func (s tracedAuth) span(ctx context.Context, name string) (context.Context, func(error)) {
	ctx, span := s.tracer.Start(ctx, "store."+name, trace.WithSpanKind(trace.SpanKindClient))
	return ctx, func(err error) {
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrAlreadyExists) && !errors.Is(err, store.ErrTokenReused) &&
			!errors.Is(err, store.ErrCodeReused) &&
			!errors.Is(err, store.ErrConflict) {
			span.RecordError(err)
			span.SetStatus(codes.Error, "store call failed")
		}
		span.End()
	}
}

// store.Pinger

func (s tracedAuth) Ping(ctx context.Context) (err error) {
	ctx, end := s.span(ctx, "Ping")
	defer func() { end(err) }()
	return s.next.Ping(ctx)
}

// store.Users

func (s tracedAuth) CreateUser(ctx context.Context, u store.User) (err error) {
	ctx, end := s.span(ctx, "CreateUser")
	defer func() { end(err) }()
	return s.next.CreateUser(ctx, u)
}

func (s tracedAuth) GetUser(ctx context.Context, username string) (_ store.User, err error) {
	ctx, end := s.span(ctx, "GetUser")
	defer func() { end(err) }()
	return s.next.GetUser(ctx, username)
}

func (s tracedAuth) UpdateUser(ctx context.Context, u store.User) (err error) {
	ctx, end := s.span(ctx, "UpdateUser")
	defer func() { end(err) }()
	return s.next.UpdateUser(ctx, u)
}

func (s tracedAuth) RehashPassword(ctx context.Context, username string, version int64, hash []byte) (err error) {
	ctx, end := s.span(ctx, "RehashPassword")
	defer func() { end(err) }()
	return s.next.RehashPassword(ctx, username, version, hash)
}

func (s tracedAuth) ListUsers(ctx context.Context) (_ []store.User, err error) {
	ctx, end := s.span(ctx, "ListUsers")
	defer func() { end(err) }()
	return s.next.ListUsers(ctx)
}

func (s tracedAuth) DeleteUser(ctx context.Context, username string) (err error) {
	ctx, end := s.span(ctx, "DeleteUser")
	defer func() { end(err) }()
	return s.next.DeleteUser(ctx, username)
}

// store.Clients

func (s tracedAuth) CreateClient(ctx context.Context, c store.Client) (err error) {
	ctx, end := s.span(ctx, "CreateClient")
	defer func() { end(err) }()
	return s.next.CreateClient(ctx, c)
}

func (s tracedAuth) GetClient(ctx context.Context, id string) (_ store.Client, err error) {
	ctx, end := s.span(ctx, "GetClient")
	defer func() { end(err) }()
	return s.next.GetClient(ctx, id)
}

func (s tracedAuth) ListClients(ctx context.Context) (_ []store.Client, err error) {
	ctx, end := s.span(ctx, "ListClients")
	defer func() { end(err) }()
	return s.next.ListClients(ctx)
}

func (s tracedAuth) UpdateClient(ctx context.Context, c store.Client) (err error) {
	ctx, end := s.span(ctx, "UpdateClient")
	defer func() { end(err) }()
	return s.next.UpdateClient(ctx, c)
}

func (s tracedAuth) DeleteClient(ctx context.Context, id string) (err error) {
	ctx, end := s.span(ctx, "DeleteClient")
	defer func() { end(err) }()
	return s.next.DeleteClient(ctx, id)
}

// store.Tokens

func (s tracedAuth) CreateTokens(ctx context.Context, v store.Versions, tokens ...store.Token) (err error) {
	ctx, end := s.span(ctx, "CreateTokens")
	defer func() { end(err) }()
	return s.next.CreateTokens(ctx, v, tokens...)
}

func (s tracedAuth) GetToken(ctx context.Context, hash string) (_ store.Token, err error) {
	ctx, end := s.span(ctx, "GetToken")
	defer func() { end(err) }()
	return s.next.GetToken(ctx, hash)
}

func (s tracedAuth) GetTokenForIntrospection(ctx context.Context, hash string) (_ store.Token, _ bool, err error) {
	ctx, end := s.span(ctx, "GetTokenForIntrospection")
	defer func() { end(err) }()
	return s.next.GetTokenForIntrospection(ctx, hash)
}

func (s tracedAuth) IntrospectionLookup(ctx context.Context, clientID, tokenHash string) (_ store.Client, _ store.Token, _ bool, err error) {
	ctx, end := s.span(ctx, "IntrospectionLookup")
	defer func() { end(err) }()
	return s.next.IntrospectionLookup(ctx, clientID, tokenHash)
}

func (s tracedAuth) GetGrant(ctx context.Context, familyID string) (_ store.Token, err error) {
	ctx, end := s.span(ctx, "GetGrant")
	defer func() { end(err) }()
	return s.next.GetGrant(ctx, familyID)
}

func (s tracedAuth) RotateRefreshToken(ctx context.Context, familyID, oldHash string, now time.Time, v store.Versions, newTokens ...store.Token) (err error) {
	ctx, end := s.span(ctx, "RotateRefreshToken")
	defer func() { end(err) }()
	return s.next.RotateRefreshToken(ctx, familyID, oldHash, now, v, newTokens...)
}

func (s tracedAuth) DeleteToken(ctx context.Context, hash string) (err error) {
	ctx, end := s.span(ctx, "DeleteToken")
	defer func() { end(err) }()
	return s.next.DeleteToken(ctx, hash)
}

func (s tracedAuth) DeleteFamily(ctx context.Context, familyID string) (err error) {
	ctx, end := s.span(ctx, "DeleteFamily")
	defer func() { end(err) }()
	return s.next.DeleteFamily(ctx, familyID)
}

func (s tracedAuth) RevokeUserGrants(ctx context.Context, username string) (err error) {
	ctx, end := s.span(ctx, "RevokeUserGrants")
	defer func() { end(err) }()
	return s.next.RevokeUserGrants(ctx, username)
}

func (s tracedAuth) RevokeClientGrants(ctx context.Context, clientID string) (err error) {
	ctx, end := s.span(ctx, "RevokeClientGrants")
	defer func() { end(err) }()
	return s.next.RevokeClientGrants(ctx, clientID)
}

func (s tracedAuth) DeleteExpired(ctx context.Context, now time.Time, limit int) (_ int, err error) {
	ctx, end := s.span(ctx, "DeleteExpired")
	defer func() { end(err) }()
	return s.next.DeleteExpired(ctx, now, limit)
}

// store.Logins

func (s tracedAuth) BeginLogin(ctx context.Context, username string, now time.Time, p store.LoginPolicy) (_ store.LoginAttempt, err error) {
	ctx, end := s.span(ctx, "BeginLogin")
	defer func() { end(err) }()
	return s.next.BeginLogin(ctx, username, now, p)
}

func (s tracedAuth) LoginSucceeded(ctx context.Context, username string) (err error) {
	ctx, end := s.span(ctx, "LoginSucceeded")
	defer func() { end(err) }()
	return s.next.LoginSucceeded(ctx, username)
}

// Close has no caller's context: its span is a trace of its own, which
// shows how long the shutdown of the store took.
func (s tracedAuth) Close() (err error) {
	_, end := s.span(context.Background(), "Close")
	defer func() { end(err) }()
	return s.next.Close()
}

// store.Authorizations

func (s tracedAuth) CreateAuthCode(ctx context.Context, c store.AuthCode) (err error) {
	ctx, end := s.span(ctx, "CreateAuthCode")
	defer func() { end(err) }()
	return s.next.CreateAuthCode(ctx, c)
}

func (s tracedAuth) GetAuthCode(ctx context.Context, hash string) (_ store.AuthCode, err error) {
	ctx, end := s.span(ctx, "GetAuthCode")
	defer func() { end(err) }()
	return s.next.GetAuthCode(ctx, hash)
}

func (s tracedAuth) RedeemAuthCode(ctx context.Context, hash string, now time.Time, v store.Versions, tokens ...store.Token) (err error) {
	ctx, end := s.span(ctx, "RedeemAuthCode")
	defer func() { end(err) }()
	return s.next.RedeemAuthCode(ctx, hash, now, v, tokens...)
}

func (s tracedAuth) CreateDeviceGrant(ctx context.Context, d store.DeviceGrant) (err error) {
	ctx, end := s.span(ctx, "CreateDeviceGrant")
	defer func() { end(err) }()
	return s.next.CreateDeviceGrant(ctx, d)
}

func (s tracedAuth) GetDeviceGrantByUserCode(ctx context.Context, userCodeHash string, now time.Time) (_ store.DeviceGrant, err error) {
	ctx, end := s.span(ctx, "GetDeviceGrantByUserCode")
	defer func() { end(err) }()
	return s.next.GetDeviceGrantByUserCode(ctx, userCodeHash, now)
}

func (s tracedAuth) DecideDeviceGrant(ctx context.Context, userCodeHash string, now time.Time, approve bool, username string, userVersion int64) (err error) {
	ctx, end := s.span(ctx, "DecideDeviceGrant")
	defer func() { end(err) }()
	return s.next.DecideDeviceGrant(ctx, userCodeHash, now, approve, username, userVersion)
}

func (s tracedAuth) PollDeviceGrant(ctx context.Context, hash string, now time.Time) (_ store.DeviceGrant, _ bool, err error) {
	ctx, end := s.span(ctx, "PollDeviceGrant")
	defer func() { end(err) }()
	return s.next.PollDeviceGrant(ctx, hash, now)
}

func (s tracedAuth) RedeemDeviceGrant(ctx context.Context, hash string, now time.Time, v store.Versions, tokens ...store.Token) (err error) {
	ctx, end := s.span(ctx, "RedeemDeviceGrant")
	defer func() { end(err) }()
	return s.next.RedeemDeviceGrant(ctx, hash, now, v, tokens...)
}

func (s tracedAuth) CreateSession(ctx context.Context, sess store.Session) (err error) {
	ctx, end := s.span(ctx, "CreateSession")
	defer func() { end(err) }()
	return s.next.CreateSession(ctx, sess)
}

func (s tracedAuth) GetSession(ctx context.Context, hash string) (_ store.Session, err error) {
	ctx, end := s.span(ctx, "GetSession")
	defer func() { end(err) }()
	return s.next.GetSession(ctx, hash)
}

func (s tracedAuth) DeleteSession(ctx context.Context, hash string) (err error) {
	ctx, end := s.span(ctx, "DeleteSession")
	defer func() { end(err) }()
	return s.next.DeleteSession(ctx, hash)
}

func (s tracedAuth) GetConsent(ctx context.Context, username, clientID string) (_ store.Consent, err error) {
	ctx, end := s.span(ctx, "GetConsent")
	defer func() { end(err) }()
	return s.next.GetConsent(ctx, username, clientID)
}

func (s tracedAuth) SaveConsent(ctx context.Context, c store.Consent) (err error) {
	ctx, end := s.span(ctx, "SaveConsent")
	defer func() { end(err) }()
	return s.next.SaveConsent(ctx, c)
}

func (s tracedAuth) RevokeConsent(ctx context.Context, username, clientID string) (err error) {
	ctx, end := s.span(ctx, "RevokeConsent")
	defer func() { end(err) }()
	return s.next.RevokeConsent(ctx, username, clientID)
}

func (s tracedAuth) SigningKeys(ctx context.Context) (_ []store.SigningKey, err error) {
	ctx, end := s.span(ctx, "SigningKeys")
	defer func() { end(err) }()
	return s.next.SigningKeys(ctx)
}

func (s tracedAuth) EnsureSigningKey(ctx context.Context, k store.SigningKey, now time.Time) (_ bool, err error) {
	ctx, end := s.span(ctx, "EnsureSigningKey")
	defer func() { end(err) }()
	return s.next.EnsureSigningKey(ctx, k, now)
}

func (s tracedAuth) RotateSigningKey(ctx context.Context, next store.SigningKey) (err error) {
	ctx, end := s.span(ctx, "RotateSigningKey")
	defer func() { end(err) }()
	return s.next.RotateSigningKey(ctx, next)
}

func (s tracedAuth) RetireSigningKey(ctx context.Context, kid string, now time.Time, compromised bool) (err error) {
	ctx, end := s.span(ctx, "RetireSigningKey")
	defer func() { end(err) }()
	return s.next.RetireSigningKey(ctx, kid, now, compromised)
}

func (s tracedAuth) DeleteUnpublishedKeys(ctx context.Context, now time.Time) (_ int, err error) {
	ctx, end := s.span(ctx, "DeleteUnpublishedKeys")
	defer func() { end(err) }()
	return s.next.DeleteUnpublishedKeys(ctx, now)
}
