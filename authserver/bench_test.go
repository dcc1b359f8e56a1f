package authserver_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/example/authsvc/internal/obs"
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

// BenchmarkIntrospectLog prices the access-log line of an introspection:
// the same request with the line off (level warn), as text and as JSON,
// through the services' own logger (obs.NewLogger) to io.Discard. The
// "x-off" metric is ns/op as a ratio to the run with the line off, from
// the same run.
func BenchmarkIntrospectLog(b *testing.B) {
	var offNs float64
	for _, run := range []struct {
		name, format string
		level        slog.Level
	}{
		{"off", obs.FormatText, slog.LevelWarn},
		{"text", obs.FormatText, slog.LevelInfo},
		{"json", obs.FormatJSON, slog.LevelInfo},
	} {
		b.Run(run.name, func(b *testing.B) {
			logger, err := obs.NewLogger(io.Discard, run.format, "authserver", run.level)
			if err != nil {
				b.Fatal(err)
			}
			e := newEnv(b, func(s *envSetup) { s.logger = logger })
			at, _ := e.mustLogin()
			benchPost(b, e.h, "/introspect", basic("rs", rsSecret), url.Values{"token": {at}})
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if run.name == "off" {
				offNs = ns
			} else if offNs > 0 {
				b.ReportMetric(ns/offNs, "x-off")
			}
		})
	}
}
