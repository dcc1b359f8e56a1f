package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/authsvc/authserver/adminapi"
	"github.com/example/authsvc/cmd/internal/dbopen"
)

// TestAdminAPIListener runs the real server with the admin API on and
// calls it; while the server runs on SQLite, a direct write is refused,
// and once it has stopped, it is not.
func TestAdminAPIListener(t *testing.T) {
	const token = "e2e-admin-token-0123456789abcdef0123456789"
	dbPath, bootstrapPath, hc := opsSetup(t)
	tokenFile := filepath.Join(t.TempDir(), "admin-tokens")
	if err := os.WriteFile(tokenFile, []byte("admin e2e "+adminapi.HashToken(token)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, hc, dbPath, bootstrapPath, "-log-format", "json",
		"-admin-addr", "127.0.0.1:0", "-admin-token-file", tokenFile)

	var adminAddr string
	for line := range strings.Lines(s.stderr.String()) {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "admin API listening" {
			adminAddr = rec.Addr
		}
	}
	if adminAddr == "" {
		t.Fatalf("no admin API listening line in the log:\n%s", s.stderr)
	}
	get := func(token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, "http://"+adminAddr+"/v1/users/alice", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get(token); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/users/alice with the token: %d", resp.StatusCode)
	}
	if resp := get(""); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("GET /v1/users/alice without a token: %d", resp.StatusCode)
	}
	if strings.Contains(s.stderr.String(), token) {
		t.Fatal("the token reached the log")
	}

	if _, err := dbopen.LockForWrite("sqlite:" + dbPath); !errors.Is(err, dbopen.ErrServerRunning) {
		t.Fatalf("a direct write while the server runs: %v, want ErrServerRunning", err)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	release, err := dbopen.LockForWrite("sqlite:" + dbPath)
	if err != nil {
		t.Fatalf("a direct write after the server stopped: %v", err)
	}
	release()
}
