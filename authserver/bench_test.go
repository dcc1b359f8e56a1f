package authserver_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/example/authsvc/store"
	"golang.org/x/crypto/bcrypt"
)

func benchPost(b *testing.B, h http.Handler, path, authz string, form url.Values) {
	b.Helper()
	body := form.Encode()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
}

// BenchmarkClientCredentialsGrant: one client authentication (SHA-256) and
// one token insert per request.
func BenchmarkClientCredentialsGrant(b *testing.B) {
	e := newEnv(b)
	benchPost(b, e.h, "/token", basic("conf", confSecret), url.Values{"grant_type": {"client_credentials"}})
}

// BenchmarkIntrospect: client authentication and one token lookup.
func BenchmarkIntrospect(b *testing.B) {
	e := newEnv(b)
	at, _ := e.mustLogin()
	benchPost(b, e.h, "/introspect", basic("rs", rsSecret), url.Values{"token": {at}})
}

// The two below show why client secrets are stored as SHA-256 and not
// bcrypt: compare their ns/op as a ratio from one run.
func BenchmarkSecretCheckSHA256(b *testing.B) {
	stored := store.HashClientSecret(confSecret)
	for b.Loop() {
		if string(store.HashClientSecret(confSecret)) != string(stored) {
			b.Fatal("mismatch")
		}
	}
}

func BenchmarkSecretCheckBcrypt10(b *testing.B) {
	stored, err := bcrypt.GenerateFromPassword([]byte(confSecret), 10)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if bcrypt.CompareHashAndPassword(stored, []byte(confSecret)) != nil {
			b.Fatal("mismatch")
		}
	}
}
