package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/example/authsvc/internal/dpopclient"
)

// The rows of self-contained and bound tokens (issue 18): the resource in
// jwt mode against the bare handler, an opaque token's first sight for
// comparison, issuance of a JWT against an opaque token, and a DPoP-bound
// call against a bearer one.

// Demo clients of JWT and DPoP (configs/demo-bootstrap.yaml).
const (
	jwtClientID     = "demo-jwt"
	jwtClientSecret = "demo-jwt-secret-not-for-production"
	dpopClientID    = "demo-dpop"
)

// tokenPool is how many distinct tokens a first-sight load cycles
// through, with the resource's cache off (RESOURCE_CACHE_TTL=0), so that
// each request costs what a token never seen costs: a signature check in
// jwt mode, an introspection round trip in introspect mode.
const tokenPool = 2048

// mintTokens gets n access tokens by client credentials.
func mintTokens(ctx context.Context, client *http.Client, authURL, id, secret string, n int) ([]string, error) {
	tokens := make([]string, 0, n)
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, authURL+"/token", strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		tok, err := tokenFrom(send(client, req))
		if err != nil {
			return nil, fmt.Errorf("client credentials of %s: %w", id, err)
		}
		tokens = append(tokens, tok)
	}
	return tokens, nil
}

// tokenFrom reads a token answer.
func tokenFrom(status int, body []byte, err error) (string, error) {
	if err != nil {
		return "", err
	}
	var answer struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &answer) != nil || answer.AccessToken == "" {
		return "", fmt.Errorf("status %d: %s", status, body)
	}
	return answer.AccessToken, nil
}

// jwtResource starts the resource in jwt mode against the row's
// authserver, with one item of the demo-jwt client's own.
func jwtResource(ctx context.Context, env rowEnv, client *http.Client, token string, extra ...string) (*authServer, error) {
	rs, err := startResource(ctx, env, append([]string{"RESOURCE_TOKEN_VALIDATION=jwt",
		"RESOURCE_JWKS_URL=" + env.authURL + "/.well-known/jwks.json", "RESOURCE_ISSUER=" + env.authURL}, extra...)...)
	if err != nil {
		return nil, err
	}
	if err := createItem(ctx, client, rs.url, "Bearer "+token, nil); err != nil {
		rs.stop(15 * time.Second)
		return nil, err
	}
	return rs, nil
}

func createItem(ctx context.Context, client *http.Client, base, authorization string, header http.Header) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/items", strings.NewReader(`{"name":"apple"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authorization)
	for k, v := range header {
		req.Header[k] = v
	}
	if status, body, err := send(client, req); err != nil || status != http.StatusCreated {
		return fmt.Errorf("create an item: status %d, %v: %s", status, err, body)
	}
	return nil
}

// itemsCalls is a load of GET /items on base, request i authorized by
// authorize(i) (the header value and any extra headers).
func itemsCalls(env rowEnv, client *http.Client, base string, authorize func(i int64) (string, http.Header)) load {
	var n atomic.Int64
	return load{
		workers:  env.cfg.workers,
		duration: env.cfg.duration,
		do: func(ctx context.Context, _ int) (int, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/items", nil)
			if err != nil {
				return 0, err
			}
			authorization, header := authorize(n.Add(1))
			req.Header.Set("Authorization", authorization)
			for k, v := range header {
				req.Header[k] = v
			}
			status, body, err := send(client, req)
			if err == nil && status == http.StatusOK && !bytes.Contains(body, []byte(`"apple"`)) {
				return 0, errors.New("GET /items answered 200 without the item")
			}
			return status, err
		},
	}
}

func itemsJWTFirstSight(ctx context.Context, env rowEnv) (rowResult, error) {
	return itemsJWT(ctx, env, tokenPool)
}

func itemsJWTRepeated(ctx context.Context, env rowEnv) (rowResult, error) {
	return itemsJWT(ctx, env, 1)
}

// itemsJWT loads the resource in jwt mode with pool distinct tokens: with
// more than one, the cache is off, so that every request is a first
// sight; with one, the cached token is what is measured.
func itemsJWT(ctx context.Context, env rowEnv, pool int) (rowResult, error) {
	env = speedEnv(env)
	client := newClient(net.IPv4(127, 0, 0, 1), env.cfg.workers, 10*time.Second)
	tokens, err := mintTokens(ctx, client, env.authURL, jwtClientID, jwtClientSecret, pool)
	if err != nil {
		return rowResult{}, err
	}
	var extra []string
	if pool > 1 {
		extra = append(extra, "RESOURCE_CACHE_TTL=0s")
	}
	rs, err := jwtResource(ctx, env, client, tokens[0], extra...)
	if err != nil {
		return rowResult{}, err
	}
	defer rs.stop(15 * time.Second)
	res, err := compareWithBaselines(ctx, env.cfg.duration, "items", rs.url, func(base string) load {
		return itemsCalls(env, client, base, func(i int64) (string, http.Header) {
			return "Bearer " + tokens[int(i)%len(tokens)], nil
		})
	})
	res.resourceRSS = rs.peakRSS()
	return res, err
}

// itemsOpaqueFirstSight loads the resource in introspect mode with its
// cache off: every request costs an introspection round trip, as an opaque
// token seen for the first time does.
func itemsOpaqueFirstSight(ctx context.Context, env rowEnv) (rowResult, error) {
	env = speedEnv(env)
	client := newClient(net.IPv4(127, 0, 0, 1), env.cfg.workers, 10*time.Second)
	tokens, err := mintTokens(ctx, client, env.authURL, demoClientID, demoClientSecret, tokenPool)
	if err != nil {
		return rowResult{}, err
	}
	rs, err := startResource(ctx, env, "RESOURCE_CACHE_TTL=0s")
	if err != nil {
		return rowResult{}, err
	}
	defer rs.stop(15 * time.Second)
	if err := createItem(ctx, client, rs.url, "Bearer "+tokens[0], nil); err != nil {
		return rowResult{}, err
	}
	res, err := compareWithBaselines(ctx, env.cfg.duration, "items", rs.url, func(base string) load {
		return itemsCalls(env, client, base, func(i int64) (string, http.Header) {
			return "Bearer " + tokens[int(i)%len(tokens)], nil
		})
	})
	res.resourceRSS = rs.peakRSS()
	return res, err
}

// tokenJWTVsOpaque issues JWTs and opaque tokens by client credentials in
// turns: the main load is the JWT one, the baseline the opaque one.
func tokenJWTVsOpaque(ctx context.Context, env rowEnv) (rowResult, error) {
	env = speedEnv(env)
	client := newClient(net.IPv4(127, 0, 0, 1), env.cfg.workers, 10*time.Second)
	res := takeTurns(ctx, env.cfg.duration, clientCredentialsLoad(env, client, jwtClientID, jwtClientSecret),
		clientCredentialsLoad(env, client, demoClientID, demoClientSecret))
	return rowResult{main: res[0], bare: &res[1]}, ctx.Err()
}

// itemsDPoPVsBearer calls the resource in jwt mode with a DPoP-bound JWT
// and a fresh proof each request, in turns with a bearer JWT. Proofs are
// signed before each turn, outside the measured time, so that the load
// generator's signing does not take the server's CPU.
func itemsDPoPVsBearer(ctx context.Context, env rowEnv) (rowResult, error) {
	env = speedEnv(env)
	client := newClient(net.IPv4(127, 0, 0, 1), env.cfg.workers, 10*time.Second)
	bearer, err := mintTokens(ctx, client, env.authURL, jwtClientID, jwtClientSecret, 1)
	if err != nil {
		return rowResult{}, err
	}
	rs, err := jwtResource(ctx, env, client, bearer[0])
	if err != nil {
		return rowResult{}, err
	}
	defer rs.stop(15 * time.Second)
	prover, err := dpopclient.New(jose.ES256, nil)
	if err != nil {
		return rowResult{}, err
	}
	bound, err := dpopLogin(ctx, client, env.authURL, prover)
	if err != nil {
		return rowResult{}, err
	}
	target := rs.url + "/items"
	proof := func() (string, error) { return prover.Proof(http.MethodGet, target, bound) }
	first, err := prover.Proof(http.MethodPost, target, bound)
	if err != nil {
		return rowResult{}, err
	}
	if err := createItem(ctx, client, rs.url, "DPoP "+bound, http.Header{"Dpop": {""}}); err == nil {
		return rowResult{}, errors.New("the resource accepted a DPoP-bound token without a proof")
	}
	if err := createItem(ctx, client, rs.url, "DPoP "+bound, http.Header{"Dpop": {first}}); err != nil {
		return rowResult{}, err
	}

	// Proofs for one turn: as many as the last bearer turn answered, and
	// half again.
	var (
		proofs   atomic.Pointer[[]string]
		next     atomic.Int64
		lastTurn atomic.Int64
	)
	lastTurn.Store(int64(2000))
	bearerLoad := itemsCalls(env, client, rs.url, func(int64) (string, http.Header) { return "Bearer " + bearer[0], nil })
	inner := bearerLoad.do
	bearerLoad.do = func(ctx context.Context, w int) (int, error) {
		lastTurn.Add(1)
		return inner(ctx, w)
	}
	bearerLoad.before = func() { lastTurn.Store(0) }
	dpopLoad := itemsCalls(env, client, rs.url, func(int64) (string, http.Header) {
		list := *proofs.Load()
		i := next.Add(1) - 1
		if int(i) < len(list) {
			return "DPoP " + bound, http.Header{"Dpop": {list[i]}}
		}
		p, _ := proof() // ran out: sign one now
		return "DPoP " + bound, http.Header{"Dpop": {p}}
	})
	dpopLoad.before = func() {
		n := int(lastTurn.Load()*3/2) + 100
		list := make([]string, 0, n)
		for range n {
			p, err := proof()
			if err != nil {
				break
			}
			list = append(list, p)
		}
		proofs.Store(&list)
		next.Store(0)
	}
	res := takeTurns(ctx, env.cfg.duration, bearerLoad, dpopLoad)
	return rowResult{main: res[1], bare: &res[0], resourceRSS: rs.peakRSS()}, ctx.Err()
}

// dpopLogin gets alice a DPoP-bound token of demo-dpop (public, DPoP
// required) with a proof by prover.
func dpopLogin(ctx context.Context, client *http.Client, authURL string, prover *dpopclient.Prover) (string, error) {
	form := url.Values{"grant_type": {"password"}, "username": {legitUser}, "password": {legitUserPassword}, "client_id": {dpopClientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, authURL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	p, err := prover.Proof(http.MethodPost, authURL+"/token", "")
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", p)
	tok, err := tokenFrom(send(client, req))
	if err != nil {
		return "", fmt.Errorf("DPoP login of %s: %w", dpopClientID, err)
	}
	return tok, nil
}
