package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/example/authsvc/authserver/adminapi"
	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/internal/testkit"
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

	adminAddr := adminAddrOf(t, s)
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
	// Each call is audited, refusals too, with its request id. The log is
	// written asynchronously, so the records may trail the answers.
	audited := func() map[float64]bool {
		seen := map[float64]bool{}
		for line := range strings.Lines(s.stderr.String()) {
			var rec struct {
				RequestID string `json:"request_id"`
				Status    float64
			}
			if json.Unmarshal([]byte(line), &rec) == nil && strings.Contains(line, `"event":"admin_api_call"`) && rec.RequestID != "" {
				seen[rec.Status] = true
			}
		}
		return seen
	}
	if !testkit.Poll(5*time.Second, nil, func() bool { a := audited(); return a[200] && a[401] }) {
		t.Fatalf("audited statuses %v, want 200 and 401 with request ids:\n%s", audited(), s.stderr)
	}

	// A change through the admin API ends the user's token at once: the
	// API changes the store through the same store value the server
	// answers introspection from (and so through any cache it keeps).
	e := &e2e{t: t, hc: hc, srv: s}
	e.ctx = context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	tok := e.login(t, oauth2.AuthStyleInHeader)
	e.assertActive(t, "before disable", tok.AccessToken)
	req, _ := http.NewRequest(http.MethodPost, "http://"+adminAddr+"/v1/users/alice/disable", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("disable alice: %d", resp.StatusCode)
	}
	e.assertInactive(t, "after disable through the admin API", tok.AccessToken)

	if _, err := dbopen.LockForWrite("sqlite:" + dbPath); !errors.Is(err, dbopen.ErrServerRunning) {
		t.Fatalf("a direct write while the server runs: %v, want ErrServerRunning", err)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	// Stopped, the server has flushed its log: still no token in it.
	if strings.Contains(s.stderr.String(), token) {
		t.Fatal("the token reached the log")
	}
	release, err := dbopen.LockForWrite("sqlite:" + dbPath)
	if err != nil {
		t.Fatalf("a direct write after the server stopped: %v", err)
	}
	release()
}

// TestAdminAPIClientCertificates: with a client CA, the admin listener
// serves TLS and requires a certificate it signed; the certificate's OU is
// the role. A client without one does not get past the handshake.
func TestAdminAPIClientCertificates(t *testing.T) {
	dbPath, bootstrapPath, _ := opsSetup(t)
	certFile, keyFile, serverPool := selfSigned(t)
	caFile, clientCert := clientCA(t)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverPool}}}
	t.Cleanup(hc.CloseIdleConnections)
	s := startServer(t, hc, dbPath, bootstrapPath, "-log-format", "json", "-tls-cert", certFile, "-tls-key", keyFile,
		"-admin-addr", "127.0.0.1:0", "-admin-client-ca", caFile)
	adminAddr := adminAddrOf(t, s)

	call := func(cert *tls.Certificate, method, path, body string) (int, error) {
		tc := &tls.Config{RootCAs: serverPool}
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		defer c.CloseIdleConnections()
		req, _ := http.NewRequest(method, "https://"+adminAddr+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	admin, read := clientCert("ops-admin", "admin"), clientCert("ops-read", "read")
	if code, err := call(&admin, "POST", "/v1/users", `{"username":"mtlsuser","password":"mtlsuser-password-1"}`); err != nil || code != http.StatusCreated {
		t.Fatalf("create with an admin certificate: %d %v", code, err)
	}
	if code, err := call(&read, "GET", "/v1/users/mtlsuser", ""); err != nil || code != http.StatusOK {
		t.Fatalf("read with a read certificate: %d %v", code, err)
	}
	if code, err := call(&read, "DELETE", "/v1/users/mtlsuser", ""); err != nil || code != http.StatusForbidden {
		t.Fatalf("delete with a read certificate: %d %v", code, err)
	}
	if _, err := call(nil, "GET", "/v1/users/mtlsuser", ""); err == nil {
		t.Fatal("a client without a certificate got an answer")
	}
	// The same certificate from another CA is refused at the handshake.
	_, otherCert := clientCA(t)
	stranger := otherCert("ops-admin", "admin")
	if _, err := call(&stranger, "GET", "/v1/users/mtlsuser", ""); err == nil {
		t.Fatal("a certificate of another CA got an answer")
	}
}

func adminAddrOf(t *testing.T, s *testServer) string {
	t.Helper()
	var addr string
	// The log is written asynchronously: the line may trail the listener.
	testkit.Poll(5*time.Second, nil, func() bool {
		for line := range strings.Lines(s.stderr.String()) {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "admin API listening" {
				addr = rec.Addr
				return true
			}
		}
		return false
	})
	if addr == "" {
		t.Fatalf("no admin API listening line in the log:\n%s", s.stderr)
	}
	return addr
}

// clientCA writes a CA certificate and returns a maker of client
// certificates it signs, with a CN and an OU.
func clientCA(t *testing.T) (caFile string, issue func(cn, ou string) tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "admin client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	caFile = filepath.Join(t.TempDir(), "client-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	serial := int64(1)
	return caFile, func(cn, ou string) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{ou}},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
}

// TestAdminAddressRule: off loopback the admin API needs client
// certificates; with them, any address will do.
func TestAdminAddressRule(t *testing.T) {
	base := adminSettings{addr: ":9099", tokenFile: "tokens"}
	if err := base.validate(true); err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Fatalf("all interfaces with a token only: %v", err)
	}
	for _, addr := range []string{"127.0.0.1:9099", "[::1]:9099", "localhost:9099"} {
		a := base
		a.addr = addr
		if err := a.validate(false); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	a := base
	a.clientCA = "ca.pem"
	if err := a.validate(true); err != nil {
		t.Errorf("all interfaces with client certificates: %v", err)
	}
	if err := (adminSettings{addr: "off"}).validate(false); err != nil {
		t.Errorf("off: %v", err)
	}
}

// TestAdminSettingsRefused: run refuses a bad admin API setting before it
// listens, without quoting the token file.
func TestAdminSettingsRefused(t *testing.T) {
	const leaked = "hunter2-in-a-file"
	dir := t.TempDir()
	notTokens := filepath.Join(dir, "not-tokens")
	if err := os.WriteFile(notTokens, []byte("admin "+leaked+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(dir, "auth.db")
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"admin API without credentials", []string{"-db", db, "-admin-addr", "127.0.0.1:0"}, nil, "AUTH_ADMIN_TOKEN_FILE"},
		{"admin API off loopback without client certificates", []string{"-db", db, "-admin-token-file", notTokens},
			map[string]string{"AUTH_ADMIN_ADDR": ":9099"}, "not loopback"},
		{"admin client CA without TLS", []string{"-db", db, "-admin-addr", "0.0.0.0:0", "-admin-client-ca", notTokens}, nil, "AUTH_TLS_CERT"},
		{"admin token file not a token file", []string{"-db", db, "-admin-addr", "127.0.0.1:0", "-admin-token-file", notTokens}, nil, "admin token file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr testkit.SyncBuffer
			args := append([]string{"authserver", "-addr", "127.0.0.1:0"}, tc.args...)
			err := run(ctx, args, getenvFrom(tc.env), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("run: %v, want an error mentioning %q", err, tc.wantErr)
			}
			if stdout.String() != "" {
				t.Errorf("stdout %q: run must not report listening on a bad setting", stdout.String())
			}
			if strings.Contains(err.Error(), leaked) || strings.Contains(stderr.String(), leaked) {
				t.Errorf("the token file's content reached the error or the log: %v", err)
			}
		})
	}
}
