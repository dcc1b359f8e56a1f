package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/cmd/internal/cliconf"
	"github.com/example/authsvc/internal/testkit"
)

const (
	testClientID     = "resource"
	testClientSecret = "p+a/s=s%:w rd"
)

// fakeIntrospection accepts this service's credentials and knows one token.
func fakeIntrospection(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if id != testClientID || secret != testClientSecret {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		answer := map[string]any{"active": false}
		if r.PostFormValue("token") == "good" {
			answer = map[string]any{"active": true, "scope": "items:read items:write", "client_id": "app", "username": "alice",
				"token_type": "Bearer", "token_use": "access_token", "exp": time.Now().Add(time.Hour).Unix()}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// mapEnv serves m; the metrics listener is off unless m sets it, since
// its default address would be shared by tests running at once.
func mapEnv(m map[string]string) cliconf.LookupEnv {
	return func(k string) (string, bool) {
		if v, ok := m[k]; ok || k != "RESOURCE_METRICS_ADDR" {
			return v, ok
		}
		return "off", true
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	as := fakeIntrospection(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(testClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := mapEnv(map[string]string{
		"RESOURCE_CLIENT_ID":           testClientID,
		"RESOURCE_CLIENT_SECRET_FILE":  secretFile,
		"RESOURCE_INTROSPECT_URL":      as.URL + "/introspect",
		"RESOURCE_DB":                  "sqlite:" + filepath.Join(dir, "data", "items.db"),
		"RESOURCE_MAX_ITEMS_PER_OWNER": "1",
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &testkit.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"resource", "-addr", "127.0.0.1:0"}, getenv, io.Discard, stderr)
	}()

	base := "http://" + waitForAddr(t, stderr, done)
	testkit.WaitHealthy(t, nil, base+"/healthz", 10*time.Second)

	// The quota setting reaches the handler: the first item fits, the
	// second does not.
	for _, want := range []int{http.StatusCreated, http.StatusConflict} {
		req, _ := http.NewRequest(http.MethodPost, base+"/items", strings.NewReader(`{"name":"apple"}`))
		req.Header.Set("Authorization", "Bearer good")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST /items: %d, want %d (log:\n%s)", resp.StatusCode, want, stderr)
		}
	}
	// One service owns an SQLite file: a second one on it is refused
	// (it would write behind the first one's item cache).
	var second testkit.SyncBuffer
	err := run(ctx, []string{"resource", "-addr", "127.0.0.1:0"}, getenv, io.Discard, &second)
	if err == nil || !strings.Contains(err.Error(), "another server runs on this database") {
		t.Fatalf("a second service on the same SQLite file: %v\n%s", err, second.String())
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/items", nil)
	req.Header.Set("Authorization", "Bearer bad")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /items with a bad token: %d", resp.StatusCode)
	}
	for _, path := range []string{"/readyz", "/healthz"} {
		resp, err := http.Get(base + path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", path, resp, err)
		}
		_ = resp.Body.Close()
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	logs := stderr.String()
	for _, want := range []string{"shutting down", "stopped", "path=/items status=201"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, testClientSecret) || strings.Contains(logs, "[GIN") {
		t.Errorf("log holds the secret or Gin debug output:\n%s", logs)
	}
}

var listening = regexp.MustCompile(`msg=listening .*?\baddr=(\S+)`)

// waitForAddr reads the listening address from run's log.
func waitForAddr(t *testing.T, stderr *testkit.SyncBuffer, done <-chan error) string {
	t.Helper()
	var addr string
	if !testkit.Poll(10*time.Second, nil, func() bool {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
			return true
		}
		select {
		case err := <-done:
			t.Fatalf("run returned before listening: %v\n%s", err, stderr)
		default:
		}
		return false
	}) {
		t.Fatalf("no listening line:\n%s", stderr)
	}
	return addr
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "never", "items.db")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"no credentials", nil, map[string]string{},
			[]string{"no client id", "RESOURCE_CLIENT_ID", "no client secret", "RESOURCE_CLIENT_SECRET"}},
		{"no secret", []string{"-client-id", "resource"}, map[string]string{},
			[]string{"no client secret"}},
		{"no id", nil, map[string]string{"RESOURCE_CLIENT_SECRET": "x"},
			[]string{"no client id"}},
		{"both secret sources", nil, map[string]string{"RESOURCE_CLIENT_ID": "r", "RESOURCE_CLIENT_SECRET": "x", "RESOURCE_CLIENT_SECRET_FILE": "/x"},
			[]string{"only one of"}},
		{"missing secret file", nil, map[string]string{"RESOURCE_CLIENT_ID": "r", "RESOURCE_CLIENT_SECRET_FILE": filepath.Join(dir, "nope")},
			[]string{"RESOURCE_CLIENT_SECRET_FILE", "no such file"}},
		{"bad values", []string{"-cache-ttl", "-1s", "-introspect-url", "localhost:9096"},
			map[string]string{"RESOURCE_CLIENT_ID": "r", "RESOURCE_CLIENT_SECRET": "x", "RESOURCE_INTROSPECT_TIMEOUT": "0s", "RESOURCE_MAX_ITEMS_PER_OWNER": "0",
				"RESOURCE_ITEM_CACHE_BYTES": "1000"},
			[]string{"-cache-ttl", "-introspect-url", "-introspect-timeout", "-max-items-per-owner", "-item-cache-bytes"}},
		{"unparsable quota", nil, map[string]string{"RESOURCE_CLIENT_ID": "r", "RESOURCE_CLIENT_SECRET": "x", "RESOURCE_MAX_ITEMS_PER_OWNER": "10k"},
			[]string{"RESOURCE_MAX_ITEMS_PER_OWNER"}},
		{"password in the introspection URL", []string{"-introspect-url", "http://u:hunter2@localhost:9096/introspect"},
			map[string]string{"RESOURCE_CLIENT_ID": "r", "RESOURCE_CLIENT_SECRET": "x"},
			[]string{"-introspect-url", "without userinfo"}},
		{"revocations URL with a password", []string{"-revocations-url", "http://u:hunter2@localhost:9096/revocations"},
			map[string]string{"RESOURCE_CLIENT_ID": "r", "RESOURCE_CLIENT_SECRET": "x"},
			[]string{"-revocations-url", "auto, off"}},
		{"unknown gin mode", nil, map[string]string{"RESOURCE_CLIENT_ID": "r", "RESOURCE_CLIENT_SECRET": "x", "GIN_MODE": "prod"},
			[]string{"GIN_MODE"}},
		{"unparsable env", nil, map[string]string{"RESOURCE_CLIENT_ID": "r", "RESOURCE_CLIENT_SECRET": "x", "RESOURCE_CACHE_TTL": "soon"},
			[]string{"RESOURCE_CACHE_TTL"}},
		{"secret as a flag", []string{"-client-secret", "x"}, map[string]string{"RESOURCE_CLIENT_ID": "r"},
			[]string{"flag provided but not defined"}},
		{"stray argument", []string{"serve"}, map[string]string{"RESOURCE_CLIENT_ID": "r", "RESOURCE_CLIENT_SECRET": "x"},
			[]string{"unexpected arguments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["RESOURCE_DB"] = db
			args := append([]string{"resource", "-addr", "127.0.0.1:0"}, tt.args...)
			var stderr bytes.Buffer
			err := run(context.Background(), args, mapEnv(tt.env), io.Discard, &stderr)
			if err == nil {
				t.Fatal("run started")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error()+stderr.String(), "hunter2") {
				t.Errorf("a password was echoed: %v\n%s", err, stderr.String())
			}
			if strings.Contains(stderr.String(), "listening") {
				t.Errorf("it listened:\n%s", stderr.String())
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "never")); !os.IsNotExist(err) {
		t.Errorf("a refused start created the database directory: %v", err)
	}
}

func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"resource", "-h"}, mapEnv(nil), io.Discard, &stderr); err != nil {
		t.Fatalf("-h: %v", err)
	}
	if !strings.Contains(stderr.String(), "-introspect-url") {
		t.Errorf("usage:\n%s", stderr.String())
	}
}
