package main

// Two authserver processes on one PostgreSQL database: the replicas keep no
// state of their own but the introspection cache, which every change
// reaches through LISTEN/NOTIFY, so whatever one does the other sees at
// once, or for introspection within the notification's delay.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/example/authsvc/internal/testkit"
	"github.com/example/authsvc/store/postgres/pgtest"
)

const (
	replicaClientID      = "replica-app"
	replicaClientSecret  = "replica-app-secret-0123456789abcdef0123"
	replicaIntrospectID  = "replica-introspector"
	replicaIntrospectSec = "replica-introspector-secret-0123456789ab"
	replicaAlicePassword = "alice-replica-password"
	replicaCarolPassword = "carol-replica-password"
)

var replicaBootstrapYAML = fmt.Sprintf(`
users:
  - username: alice
    password: '%s'
  - username: carol
    password: '%s'
clients:
  - id: %s
    secret: '%s'
    grants: [password, refresh_token]
    scopes: [items:read, items:write]
  - id: %s
    secret: '%s'
    grants: [client_credentials]
    scopes: []
    introspect: true
`, replicaAlicePassword, replicaCarolPassword, replicaClientID, replicaClientSecret, replicaIntrospectID, replicaIntrospectSec)

func TestReplicasShareState(t *testing.T) {
	dsn := pgtest.FreshDatabase(t, "authsvc_replicas_")
	binary := replicaBuild(t)
	bootstrap := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(bootstrap, []byte(replicaBootstrapYAML), 0o600); err != nil {
		t.Fatal(err)
	}

	// Both at once: their migrations and bootstraps race on the empty
	// database, as replicas of one deployment do.
	var (
		replicas [2]*replicaProcess
		wg       sync.WaitGroup
	)
	for i := range replicas {
		wg.Go(func() { replicas[i] = replicaStart(t, binary, dsn, bootstrap) })
	}
	wg.Wait()
	for i, r := range replicas {
		if r == nil {
			t.Fatalf("replica %d did not start", i+1)
		}
	}
	one, two := replicas[0], replicas[1]

	t.Run("token from one introspects active on two", func(t *testing.T) {
		tok := one.login(t, "alice", replicaAlicePassword, http.StatusOK)
		in := two.introspect(t, tok["access_token"])
		if in["active"] != true || in["username"] != "alice" || in["token_use"] != "access_token" {
			t.Errorf("replica 2 says %v about replica 1's access token", in)
		}
		if in := two.introspect(t, tok["refresh_token"]); in["active"] != true || in["token_use"] != "refresh_token" {
			t.Errorf("replica 2 says %v about replica 1's refresh token", in)
		}
	})

	t.Run("revocation on two reaches one's cache", func(t *testing.T) {
		tok := one.login(t, "alice", replicaAlicePassword, http.StatusOK)
		// Twice: the second answer comes from replica 1's memory.
		for range 2 {
			if in := one.introspect(t, tok["access_token"]); in["active"] != true {
				t.Fatalf("fresh token inactive: %v", in)
			}
		}
		two.revoke(t, tok["refresh_token"])
		// Replica 1 hears of it through LISTEN/NOTIFY, milliseconds
		// after the commit (the loadbench measures the delay; the
		// store/cached tests prove the bypass while that path is down).
		for kind, token := range map[string]string{"access": tok["access_token"], "refresh": tok["refresh_token"]} {
			var in map[string]any
			if !testkit.Poll(2*time.Second, nil, func() bool {
				in = one.introspect(t, token)
				return in["active"] == false
			}) || len(in) != 1 {
				t.Errorf("replica 1 says %v about the %s token revoked on replica 2, 2 s later; want exactly {\"active\":false}", in, kind)
			}
		}
	})

	t.Run("20 concurrent refreshes over both replicas: exactly one wins", func(t *testing.T) {
		tok := one.login(t, "alice", replicaAlicePassword, http.StatusOK)
		const n = 20
		statuses := make([]int, n)
		codes := make([]string, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			r := replicas[i%2]
			wg.Go(func() {
				<-start
				statuses[i], codes[i] = r.refresh(t, tok["refresh_token"])
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for i, status := range statuses {
			switch {
			case status == http.StatusOK:
				wins++
			case status == http.StatusBadRequest && codes[i] == "invalid_grant":
			default:
				t.Errorf("refresh %d on replica %d: status %d error %q; want 200 or 400 invalid_grant", i, i%2+1, status, codes[i])
			}
		}
		if wins != 1 {
			t.Errorf("%d of %d concurrent refreshes succeeded; want exactly 1", wins, n)
		}
	})

	t.Run("lockout holds across replicas", func(t *testing.T) {
		// The right password works, so what follows is the lockout.
		two.login(t, "carol", replicaCarolPassword, http.StatusOK)
		for i := range 5 {
			replicas[i%2].login(t, "carol", "wrong-password", http.StatusBadRequest)
		}
		for i, r := range replicas {
			if body := r.login(t, "carol", replicaCarolPassword, http.StatusBadRequest); body["error"] != "invalid_grant" {
				t.Errorf("replica %d: right password after the lockout got %v; want invalid_grant", i+1, body)
			}
		}
	})
}

// replicaBuild builds this command into a temp dir.
func replicaBuild(t *testing.T) string {
	t.Helper()
	binary := filepath.Join(t.TempDir(), "authserver")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	// go test puts its own GOROOT/bin first on PATH (Go 1.19 and later),
	// so "go" is the toolchain running this test; runtime.GOROOT is
	// deprecated.
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return binary
}

// replicaProcess is one authserver process.
type replicaProcess struct {
	base string
	cmd  *exec.Cmd
	log  *testkit.SyncBuffer
	done chan struct{}
	hc   *http.Client
}

// replicaStart starts the binary on a free port and returns once it prints
// its address and /readyz answers 200. It is stopped (SIGTERM, then
// SIGKILL after 10s) when the test ends.
func replicaStart(t *testing.T, binary, dsn, bootstrap string) *replicaProcess {
	t.Helper()
	r := &replicaProcess{cmd: exec.Command(binary), log: &testkit.SyncBuffer{}, done: make(chan struct{}), hc: &http.Client{Timeout: 10 * time.Second}}
	r.cmd.Env = []string{
		"AUTH_ADDR=127.0.0.1:0",
		"AUTH_DB=" + dsn,
		"AUTH_BOOTSTRAP=" + bootstrap,
		"AUTH_BCRYPT_COST=4",
		"AUTH_ISSUER=http://auth.replicas.test",
		"AUTH_METRICS_ADDR=off",
	}
	r.cmd.Stderr = r.log
	// Called from several goroutines: Errorf and return, never Fatal.
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Error(err)
		return nil
	}
	if err := r.cmd.Start(); err != nil {
		t.Errorf("start authserver: %v", err)
		return nil
	}
	lines := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := br.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, br)
	}()
	go func() {
		_ = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.done
			t.Errorf("authserver did not stop within 10s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("authserver %s log:\n%s", r.base, r.log)
		}
	})

	select {
	case line := <-lines:
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		if !ok {
			t.Errorf("authserver stdout %q, want \"listening on http://ADDR\"; log:\n%s", line, r.log)
			return nil
		}
		r.base = addr
	case <-time.After(60 * time.Second):
		t.Errorf("authserver did not listen within 60s; log:\n%s", r.log)
		return nil
	}
	var last string
	if !testkit.Poll(30*time.Second, r.done, func() bool {
		var ok bool
		ok, last = testkit.Healthy(r.hc, r.base+"/readyz")
		return ok
	}) {
		t.Errorf("%s/readyz never answered 200 (last: %s): the process exited or 30s passed", r.base, last)
		return nil
	}
	return r
}

// post sends a form with client_secret_basic credentials and decodes the
// JSON answer (none for an empty body).
func (r *replicaProcess) post(t *testing.T, path, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, r.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	creds := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds)))
	resp, err := r.hc.Do(req)
	if err != nil {
		t.Errorf("POST %s%s: %v", r.base, path, err)
		return 0, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("POST %s%s: read: %v", r.base, path, err)
	}
	var decoded map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &decoded); err != nil {
			t.Errorf("POST %s%s: status %d, not JSON", r.base, path, resp.StatusCode)
		}
	}
	return resp.StatusCode, decoded
}

// login runs the password grant and fails the test unless the status is
// want; it returns the answer's string members.
func (r *replicaProcess) login(t *testing.T, username, password string, want int) map[string]string {
	t.Helper()
	status, body := r.post(t, "/token", replicaClientID, replicaClientSecret,
		url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}})
	if status != want {
		t.Fatalf("%s: login %s: status %d (error %v), want %d", r.base, username, status, body["error"], want)
	}
	out := map[string]string{}
	for k, v := range body {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

func (r *replicaProcess) refresh(t *testing.T, refreshToken string) (int, string) {
	status, body := r.post(t, "/token", replicaClientID, replicaClientSecret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
	code, _ := body["error"].(string)
	return status, code
}

func (r *replicaProcess) introspect(t *testing.T, token string) map[string]any {
	t.Helper()
	status, body := r.post(t, "/introspect", replicaIntrospectID, replicaIntrospectSec, url.Values{"token": {token}})
	if status != http.StatusOK {
		t.Fatalf("%s: introspect: status %d", r.base, status)
	}
	return body
}

func (r *replicaProcess) revoke(t *testing.T, token string) {
	t.Helper()
	if status, _ := r.post(t, "/revoke", replicaClientID, replicaClientSecret, url.Values{"token": {token}}); status != http.StatusOK {
		t.Fatalf("%s: revoke: status %d", r.base, status)
	}
}
