package main

import (
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/cmd/internal/cliconf"
	"github.com/example/authsvc/internal/promtest"
	"github.com/example/authsvc/internal/testkit"
)

// startJSON runs the service with JSON logs and a metrics listener on a
// free port, and returns its base URL, its metrics URL and its stderr.
func startJSON(t *testing.T, introspectURL, secret string) (base, metrics string, stderr *testkit.SyncBuffer) {
	t.Helper()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := mapEnv(map[string]string{
		"RESOURCE_CLIENT_ID":          testClientID,
		"RESOURCE_CLIENT_SECRET_FILE": secretFile,
		"RESOURCE_INTROSPECT_URL":     introspectURL,
		"RESOURCE_DB":                 "sqlite:" + filepath.Join(dir, "items.db"),
		"RESOURCE_LOG_FORMAT":         "json",
		"RESOURCE_METRICS_ADDR":       "127.0.0.1:0",
		"GIN_MODE":                    "debug", // Gin would print its route table: it must not
	})
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &testkit.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"resource", "-addr", "127.0.0.1:0"}, getenv, io.Discard, stderr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	addr := regexp.MustCompile(`"msg":"listening".*?"addr":"([^"]+)"`)
	maddr := regexp.MustCompile(`"msg":"metrics listening".*?"addr":"([^"]+)"`)
	if !testkit.Poll(10*time.Second, nil, func() bool {
		return addr.MatchString(stderr.String()) && maddr.MatchString(stderr.String())
	}) {
		t.Fatalf("no listening lines:\n%s", stderr)
	}
	base = "http://" + addr.FindStringSubmatch(stderr.String())[1]
	metrics = "http://" + maddr.FindStringSubmatch(stderr.String())[1] + "/metrics"
	testkit.WaitHealthy(t, nil, base+"/healthz", 10*time.Second)
	return base, metrics, stderr
}

func TestRunJSONLogsAndMetrics(t *testing.T) {
	as := fakeIntrospection(t)
	base, metrics, stderr := startJSON(t, as.URL+"/introspect", testClientSecret)
	for _, path := range []string{"/items", "/items", "/readyz"} {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer good")
		req.Header.Set("X-Request-Id", "r-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, stderr)
		}
	}
	m := promtest.Scrape(t, http.DefaultClient, metrics)
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"authsvc_http_requests_total", map[string]string{"handler": "/items", "code": "200"}},
		{"authsvc_introspection_cache_requests_total", map[string]string{"result": "miss"}},
		{"authsvc_introspection_duration_seconds", nil},
		{"authsvc_resource_item_cache_lookups_total", map[string]string{"result": "miss"}},
		{"authsvc_resource_item_cache_lookups_total", map[string]string{"result": "hit"}},
		{"authsvc_resource_item_cache_entries", nil},
		{"authsvc_build_info", nil},
	} {
		if v, found := m.Value(c.name, c.labels); !found || v < 1 {
			t.Errorf("%s%v = %v (found %v)", c.name, c.labels, v, found)
		}
	}
	if _, found := m.Value("go_sql_open_connections", map[string]string{"db_name": "items"}); !found {
		t.Error("no pool statistics of the item store")
	}
	found := false
	for _, l := range testkit.JSONLines(t, stderr.String()) {
		found = found || (l["msg"] == "request" && l["route"] == "/items" && l["request_id"] == "r-1")
	}
	if !found {
		t.Errorf("no request line for /items with its id:\n%s", stderr)
	}
}

func TestReadyzNeedsWorkingCredentials(t *testing.T) {
	as := fakeIntrospection(t)
	base, _, stderr := startJSON(t, as.URL+"/introspect", "not-the-secret")
	for path, want := range map[string]int{"/healthz": 200, "/readyz": http.StatusServiceUnavailable} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s with a wrong secret: %d, want %d\n%s", path, resp.StatusCode, want, stderr)
		}
	}
}

// TestEmptyMetricsAddrTurnsTheListenerOff: RESOURCE_METRICS_ADDR set to ""
// turns the metrics listener off, as an empty -metrics-addr and "off" do,
// instead of counting as unset and falling back to the config file or the
// default. The config file names a taken port, so a listener that is not
// off is a start failure.
func TestEmptyMetricsAddrTurnsTheListenerOff(t *testing.T) {
	dir := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := filepath.Join(dir, "resource.yaml")
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
		{"variable with an address", map[string]string{"RESOURCE_METRICS_ADDR": "127.0.0.1:0"}, nil, true, true},
		{"empty variable", map[string]string{"RESOURCE_METRICS_ADDR": ""}, nil, true, false},
		{"off variable", map[string]string{"RESOURCE_METRICS_ADDR": "off"}, nil, true, false},
		{"empty flag", nil, []string{"-metrics-addr", ""}, true, false},
		{"empty flag over a variable", map[string]string{"RESOURCE_METRICS_ADDR": "127.0.0.1:0"}, []string{"-metrics-addr="}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{
				"RESOURCE_CLIENT_ID":     testClientID,
				"RESOURCE_CLIENT_SECRET": testClientSecret,
				"RESOURCE_DB":            "sqlite:" + filepath.Join(dir, "items.db"),
			}
			maps.Copy(env, tc.env)
			args := append([]string{"resource", "-addr", "127.0.0.1:0", "-config", cfg}, tc.args...)
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
