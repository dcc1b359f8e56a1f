package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/resource"
)

// TestKeyRotationUnderLoad: while clients get JWTs and call the resource
// in jwt mode without pause, the signing key is rotated (published first,
// signing after the window) and the old one retired. Not one call fails,
// and tokens of both keys were used.
func TestKeyRotationUnderLoad(t *testing.T) {
	e := newTokenE2E(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The server's key reload, as AUTH_KEY_RELOAD_INTERVAL runs it.
	go e.ring.Run(ctx, 20*time.Millisecond)

	var (
		calls, failures atomic.Int64
		mu              sync.Mutex
		kids            = map[string]int{}
		firstFailure    atomic.Value
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := ccToken(client, e.auth.URL)
				if err == nil {
					var status int
					status, err = getItems(client, e.items[resource.ValidateJWT].URL, tok)
					if err == nil && status != http.StatusOK {
						err = &statusError{status}
					}
				}
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				parsed, _ := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
				if parsed != nil {
					mu.Lock()
					kids[parsed.Headers[0].KeyID]++
					mu.Unlock()
				}
			}
		})
	}

	svc, err := admin.New(e.authDB, slog.New(slog.NewTextHandler(io.Discard, nil)), 4)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := svc.SigningKeys(ctx)
	time.Sleep(300 * time.Millisecond)
	next, err := svc.RotateSigningKey(ctx, e.kek, keys.EdDSA, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond) // past the activation
	if err := svc.RetireSigningKey(ctx, before[0].ID, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	t.Logf("%d calls, %d failures, tokens by kid %v", calls.Load(), failures.Load(), kids)
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d calls failed during the rotation; first: %v", n, calls.Load(), firstFailure.Load())
	}
	if kids[before[0].ID] == 0 || kids[next.ID] == 0 {
		t.Fatalf("tokens by kid %v: want both the old key %s and the new %s used", kids, before[0].ID, next.ID)
	}
}

type statusError struct{ status int }

func (e *statusError) Error() string { return "status " + http.StatusText(e.status) }

// ccToken gets a JWT by client credentials for jwt-app.
func ccToken(c *http.Client, authURL string) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, authURL+"/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("jwt-app", "app-secret")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", &statusError{resp.StatusCode}
	}
	_, rest, _ := strings.Cut(string(body), `"access_token":"`)
	tok, _, _ := strings.Cut(rest, `"`)
	return tok, nil
}

func getItems(c *http.Client, itemsURL, tok string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, itemsURL+"/items", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
