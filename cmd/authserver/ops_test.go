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
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/cmd/internal/cliconf"
	"github.com/example/authsvc/internal/promtest"
	"github.com/example/authsvc/internal/testkit"
)

// opsSetup writes the bootstrap file of main_test.go into a temp dir.
func opsSetup(t *testing.T) (dbPath, bootstrapPath string, hc *http.Client) {
	t.Helper()
	dir := t.TempDir()
	bootstrapPath = filepath.Join(dir, "bootstrap.yaml")
	if err := os.WriteFile(bootstrapPath, []byte(bootstrapYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return filepath.Join(dir, "auth.db"), bootstrapPath, hc
}

func TestJSONLogsAndMetricsListener(t *testing.T) {
	dbPath, bootstrapPath, hc := opsSetup(t)
	s := startServer(t, hc, dbPath, bootstrapPath, "-log-format", "json", "-metrics-addr", "127.0.0.1:0")

	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}}
	req, _ := http.NewRequest(http.MethodPost, s.base+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Request-Id", "ops-test-1")
	req.SetBasicAuth("e2e-app", url.QueryEscape(appSecret))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != "ops-test-1" {
		t.Fatalf("token: %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}

	var metricsAddr string
	for _, l := range testkit.JSONLines(t, s.stderr.String()) {
		if l["msg"] == "metrics listening" {
			metricsAddr, _ = l["addr"].(string)
		}
	}
	if metricsAddr == "" {
		t.Fatalf("no metrics listening line:\n%s", s.stderr)
	}
	// Never on the public port.
	if resp, err := hc.Get(s.base + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the public port: %v %v", resp.StatusCode, err)
	}
	m := promtest.Scrape(t, hc, "http://"+metricsAddr+"/metrics")
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"authsvc_tokens_issued_total", map[string]string{"grant_type": "password"}},
		{"authsvc_http_requests_total", map[string]string{"handler": "/token", "code": "200"}},
		{"authsvc_build_info", nil},
		{"go_sql_open_connections", map[string]string{"db_name": "auth"}},
		{"process_open_fds", nil},
		{"go_goroutines", nil},
	} {
		if v, found := m.Value(c.name, c.labels); !found || (strings.HasPrefix(c.name, "authsvc_") && v < 1) {
			t.Errorf("%s%v = %v (found %v)", c.name, c.labels, v, found)
		}
	}

	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	var sawRequest, sawAudit bool
	for _, l := range testkit.JSONLines(t, s.stderr.String()) {
		if l["msg"] == "request" && l["path"] == "/token" {
			sawRequest = l["request_id"] == "ops-test-1" && l["client_id"] == "e2e-app"
		}
		if l["event"] == "token_issued" {
			sawAudit = l["request_id"] == "ops-test-1" && l["username"] == "alice"
		}
	}
	if !sawRequest || !sawAudit {
		t.Errorf("request line %v, token_issued event %v with the request id; log:\n%s", sawRequest, sawAudit, s.stderr)
	}
	if strings.Contains(s.stderr.String(), tok.AccessToken) || strings.Contains(s.stderr.String(), alicePassword) {
		t.Error("a token or password reached the log")
	}
}

func TestMetricsPortTakenIsAStartFailure(t *testing.T) {
	dbPath, _, _ := opsSetup(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stdout, stderr testkit.SyncBuffer
	err = run(ctx, []string{"authserver", "-addr", "127.0.0.1:0", "-db", "sqlite:" + dbPath, "-metrics-addr", ln.Addr().String()},
		getenvFrom(map[string]string{"AUTH_BCRYPT_COST": "4"}), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "metrics listen") {
		t.Errorf("run = %v, want a metrics listen error", err)
	}
	if stdout.String() != "" {
		t.Errorf("stdout %q: must not report listening", stdout.String())
	}
}

func TestTLS(t *testing.T) {
	dbPath, bootstrapPath, _ := opsSetup(t)
	certFile, keyFile, pool := selfSigned(t)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(hc.CloseIdleConnections)
	s := startServer(t, hc, dbPath, bootstrapPath, "-tls-cert", certFile, "-tls-key", keyFile)
	if !strings.HasPrefix(s.base, "https://") {
		t.Fatalf("base %q, want https", s.base)
	}
	resp, err := hc.Get(s.base + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("metadata over TLS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	// Plain HTTP to the TLS port is refused.
	if resp, err := http.Get(strings.Replace(s.base, "https://", "http://", 1) + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP answered 200 on the TLS port")
	}
}

func TestHTTPIssuerOnNetworkWarns(t *testing.T) {
	dbPath, bootstrapPath, hc := opsSetup(t)
	s := startServer(t, hc, dbPath, bootstrapPath, "-issuer", "http://auth.example.com")
	if !strings.Contains(s.stderr.String(), "level=WARN") || !strings.Contains(s.stderr.String(), "http:// on a non-loopback host") {
		t.Errorf("no warning for an http issuer on the network:\n%s", s.stderr)
	}
	dbPath2, _, _ := opsSetup(t)
	local := startServer(t, hc, dbPath2, bootstrapPath, "-issuer", "http://localhost:9096")
	if strings.Contains(local.stderr.String(), "non-loopback") {
		t.Errorf("warned for a loopback issuer:\n%s", local.stderr)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "authsvc test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestEmptyMetricsAddrTurnsTheListenerOff: AUTH_METRICS_ADDR set to ""
// turns the metrics listener off, as an empty -metrics-addr and "off" do,
// instead of counting as unset and falling back to the config file or the
// default. The config file names a taken port, so a listener that is not
// off is a start failure.
func TestEmptyMetricsAddrTurnsTheListenerOff(t *testing.T) {
	dbPath, _, _ := opsSetup(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := filepath.Join(t.TempDir(), "authserver.yaml")
	if err := os.WriteFile(cfg, []byte("metrics-addr: "+taken.Addr().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		listened bool
		metrics  bool // a metrics listener started
	}{
		// The file's address is used while nothing overrides it, and a
		// variable with an address overrides it.
		{"unset: the config file's", nil, nil, false, false},
		{"variable with an address", map[string]string{"AUTH_METRICS_ADDR": "127.0.0.1:0"}, nil, true, true},
		{"empty variable", map[string]string{"AUTH_METRICS_ADDR": ""}, nil, true, false},
		{"off variable", map[string]string{"AUTH_METRICS_ADDR": "off"}, nil, true, false},
		{"empty flag", nil, []string{"-metrics-addr", ""}, true, false},
		{"empty flag over a variable", map[string]string{"AUTH_METRICS_ADDR": "127.0.0.1:0"}, []string{"-metrics-addr="}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"AUTH_BCRYPT_COST": "4"}
			maps.Copy(env, tc.env)
			args := append([]string{"authserver", "-addr", "127.0.0.1:0", "-db", "sqlite:" + dbPath, "-config", cfg}, tc.args...)
			listened, stderr, err := testkit.RunUntilListening(t, 10*time.Second, func(ctx context.Context, stdout, stderr io.Writer) error {
				return run(ctx, args, cliconf.MapEnv(env), stdout, stderr)
			})
			if !tc.listened {
				if listened || err == nil || !strings.Contains(err.Error(), "metrics listen") {
					t.Errorf("listened %v, run = %v; want the taken metrics port's start failure", listened, err)
				}
				return
			}
			if !listened || err != nil {
				t.Fatalf("listened %v, run = %v; want a start and a clean stop\n%s", listened, err, stderr)
			}
			if got := strings.Contains(stderr, "metrics listening"); got != tc.metrics {
				t.Errorf("metrics listener started: %v, want %v; log:\n%s", got, tc.metrics, stderr)
			}
		})
	}
}
