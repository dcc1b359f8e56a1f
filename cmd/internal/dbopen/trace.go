package dbopen

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/authsvc/store"
)

// TraceAuth wraps st so that each store call a request makes is a span,
// a child of the request's. Methods it does not list (admin and cleanup
// calls) pass through untraced, so a method added to the contract keeps
// working here. Pool statistics must be taken from st, not from the
// wrapper.
func TraceAuth(st store.AuthStore, tp trace.TracerProvider) store.AuthStore {
	return tracedAuth{AuthStore: st, tracer: tp.Tracer("github.com/example/authsvc/store")}
}

type tracedAuth struct {
	store.AuthStore
	tracer trace.Tracer
}

// span starts "store.NAME"; end records err, except the sentinel answers
// that are a normal outcome (not found, already exists, reuse).
func (s tracedAuth) span(ctx context.Context, name string) (context.Context, func(error)) {
	ctx, span := s.tracer.Start(ctx, "store."+name, trace.WithSpanKind(trace.SpanKindClient))
	return ctx, func(err error) {
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrAlreadyExists) && !errors.Is(err, store.ErrTokenReused) {
			span.RecordError(err)
			span.SetStatus(codes.Error, "store call failed")
		}
		span.End()
	}
}

func (s tracedAuth) Ping(ctx context.Context) (err error) {
	ctx, end := s.span(ctx, "Ping")
	defer func() { end(err) }()
	return s.AuthStore.Ping(ctx)
}

func (s tracedAuth) GetUser(ctx context.Context, username string) (_ store.User, err error) {
	ctx, end := s.span(ctx, "GetUser")
	defer func() { end(err) }()
	return s.AuthStore.GetUser(ctx, username)
}

func (s tracedAuth) UpdateUser(ctx context.Context, u store.User) (err error) {
	ctx, end := s.span(ctx, "UpdateUser")
	defer func() { end(err) }()
	return s.AuthStore.UpdateUser(ctx, u)
}

func (s tracedAuth) GetClient(ctx context.Context, id string) (_ store.Client, err error) {
	ctx, end := s.span(ctx, "GetClient")
	defer func() { end(err) }()
	return s.AuthStore.GetClient(ctx, id)
}

func (s tracedAuth) ListClients(ctx context.Context) (_ []store.Client, err error) {
	ctx, end := s.span(ctx, "ListClients")
	defer func() { end(err) }()
	return s.AuthStore.ListClients(ctx)
}

func (s tracedAuth) CreateTokens(ctx context.Context, v store.Versions, tokens ...store.Token) (err error) {
	ctx, end := s.span(ctx, "CreateTokens")
	defer func() { end(err) }()
	return s.AuthStore.CreateTokens(ctx, v, tokens...)
}

func (s tracedAuth) GetToken(ctx context.Context, hash string) (_ store.Token, err error) {
	ctx, end := s.span(ctx, "GetToken")
	defer func() { end(err) }()
	return s.AuthStore.GetToken(ctx, hash)
}

func (s tracedAuth) GetTokenForIntrospection(ctx context.Context, hash string) (_ store.Token, _ bool, err error) {
	ctx, end := s.span(ctx, "GetTokenForIntrospection")
	defer func() { end(err) }()
	return s.AuthStore.GetTokenForIntrospection(ctx, hash)
}

func (s tracedAuth) GetGrant(ctx context.Context, familyID string) (_ store.Token, err error) {
	ctx, end := s.span(ctx, "GetGrant")
	defer func() { end(err) }()
	return s.AuthStore.GetGrant(ctx, familyID)
}

func (s tracedAuth) RotateRefreshToken(ctx context.Context, familyID, oldHash string, now time.Time, v store.Versions, newTokens ...store.Token) (err error) {
	ctx, end := s.span(ctx, "RotateRefreshToken")
	defer func() { end(err) }()
	return s.AuthStore.RotateRefreshToken(ctx, familyID, oldHash, now, v, newTokens...)
}

func (s tracedAuth) DeleteToken(ctx context.Context, hash string) (err error) {
	ctx, end := s.span(ctx, "DeleteToken")
	defer func() { end(err) }()
	return s.AuthStore.DeleteToken(ctx, hash)
}

func (s tracedAuth) DeleteFamily(ctx context.Context, familyID string) (err error) {
	ctx, end := s.span(ctx, "DeleteFamily")
	defer func() { end(err) }()
	return s.AuthStore.DeleteFamily(ctx, familyID)
}

func (s tracedAuth) IntrospectionLookup(ctx context.Context, clientID, tokenHash string) (_ store.Client, _ store.Token, _ bool, err error) {
	ctx, end := s.span(ctx, "IntrospectionLookup")
	defer func() { end(err) }()
	return s.AuthStore.IntrospectionLookup(ctx, clientID, tokenHash)
}

func (s tracedAuth) BeginLogin(ctx context.Context, username string, now time.Time, p store.LoginPolicy) (_ store.LoginAttempt, err error) {
	ctx, end := s.span(ctx, "BeginLogin")
	defer func() { end(err) }()
	return s.AuthStore.BeginLogin(ctx, username, now, p)
}

func (s tracedAuth) LoginSucceeded(ctx context.Context, username string) (err error) {
	ctx, end := s.span(ctx, "LoginSucceeded")
	defer func() { end(err) }()
	return s.AuthStore.LoginSucceeded(ctx, username)
}
