package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// Deletion cases of the token suite: one token, a family, expired ones.

func testDeleteToken(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))

	for range 2 { // idempotent
		err := s.DeleteToken(ctx, a1.Hash)
		noSecrets(t, "DeleteToken", err, a1.Hash)
		ok(t, "DeleteToken", err)
		absent(t, s, a1)
		present(t, s, r1)
	}
	ok(t, "DeleteToken of unknown token", s.DeleteToken(ctx, hashOf("never issued")))
	present(t, s, r1)
}

func testDeleteFamily(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))
	a2, r2 := pair("family-1", "t2", base.Add(time.Minute))
	ok(t, "RotateRefreshToken", Rotate(ctx, s, "family-1", r1.Hash, base.Add(time.Minute), a2, r2))
	otherA, otherR := pair("family-other", "other", base)
	ok(t, "CreateTokens other family", Create(ctx, s, otherA, otherR))

	for range 2 { // idempotent
		ok(t, "DeleteFamily", s.DeleteFamily(ctx, "family-1"))
		absent(t, s, r1, a2, r2)
		present(t, s, otherA, otherR)
	}
	ok(t, "DeleteFamily of unknown family", s.DeleteFamily(ctx, "no-such-family"))
	present(t, s, otherA, otherR)
}

func testDeleteExpired(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	now := base

	var expired, live []store.Token
	for i := range 25 {
		// Expired long or just before now: access tokens and grants.
		// (Whether a token that expires exactly at now goes
		// is left to the backend.)
		tok := store.Token{
			Hash:      hashOf(fmt.Sprintf("expired-%d", i)),
			Kind:      store.AccessToken,
			FamilyID:  fmt.Sprintf("family-%d", i%4),
			ClientID:  testClientID,
			IssuedAt:  now.Add(-refreshTTL),
			ExpiresAt: now.Add(-time.Duration(i+1) * time.Minute),
		}
		if i%3 == 0 {
			// A refresh token is its grant's record, one per family.
			tok.Kind = store.RefreshToken
			tok.FamilyID = fmt.Sprintf("grant-expired-%d", i)
		}
		if i == 24 {
			tok.ExpiresAt = now.Add(-time.Microsecond)
		}
		expired = append(expired, tok)
	}
	for i := range 6 {
		tok := store.Token{
			Hash:      hashOf(fmt.Sprintf("live-%d", i)),
			Kind:      store.AccessToken,
			FamilyID:  fmt.Sprintf("family-%d", i%4),
			ClientID:  testClientID,
			IssuedAt:  now.Add(-time.Minute),
			ExpiresAt: now.Add(time.Duration(i+1) * time.Minute),
		}
		if i%2 == 0 {
			tok.Kind = store.RefreshToken
			tok.FamilyID = fmt.Sprintf("grant-live-%d", i)
		}
		if i == 5 {
			tok.ExpiresAt = now.Add(time.Microsecond)
		}
		live = append(live, tok)
	}
	ok(t, "CreateTokens", Create(ctx, s, append(append([]store.Token{}, expired...), live...)...))

	const limit = 10
	var calls []int
	total := 0
	for {
		n, err := s.DeleteExpired(ctx, now, limit)
		ok(t, "DeleteExpired", err)
		if n > limit {
			t.Fatalf("DeleteExpired(limit %d) = %d", limit, n)
		}
		calls = append(calls, n)
		total += n
		if n < limit {
			break
		}
		if len(calls) > 10 {
			t.Fatalf("DeleteExpired keeps returning %d: %v", limit, calls)
		}
	}
	if total != len(expired) || len(calls) != 3 {
		t.Errorf("DeleteExpired(limit %d) returned %v, want [10 10 5]", limit, calls)
	}
	absent(t, s, expired...)
	present(t, s, live...)

	n, err := s.DeleteExpired(ctx, now, limit)
	ok(t, "DeleteExpired again", err)
	if n != 0 {
		t.Errorf("DeleteExpired with nothing expired = %d, want 0", n)
	}
	present(t, s, live...)
}
