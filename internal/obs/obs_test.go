package obs

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/example/authsvc/internal/reqid"
	"github.com/prometheus/client_golang/prometheus"
)

func TestNewTracingFollowsTheStandardEnvironment(t *testing.T) {
	for _, c := range []struct {
		env     map[string]string
		enabled bool
		err     bool
	}{
		{nil, false, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, false, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, true},
	} {
		tr, err := NewTracing(t.Context(), "svc", func(k string) string { return c.env[k] })
		if (err != nil) != c.err {
			t.Errorf("%v: err %v", c.env, err)
			continue
		}
		if err == nil {
			if tr.Enabled() != c.enabled {
				t.Errorf("%v: enabled %v, want %v", c.env, tr.Enabled(), c.enabled)
			}
			_ = tr.Shutdown(t.Context())
		}
	}
}

func TestJSONLoggerAddsServiceAndRequestID(t *testing.T) {
	var buf bytes.Buffer
	logger, err := NewLogger(&buf, FormatJSON, "svc", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	logger.InfoContext(reqid.With(t.Context(), "id-1"), "hello")
	ErrorLog(logger).Print("http: TLS handshake error")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if m["service"] != "svc" || m["time"] == nil || m["level"] == nil || m["msg"] == nil {
			t.Errorf("line %q lacks a field", line)
		}
		if i == 0 && m["request_id"] != "id-1" {
			t.Errorf("line %q: no request_id from the context", line)
		}
	}
	if _, err := NewLogger(&buf, "xml", "svc", slog.LevelInfo); err == nil {
		t.Error("xml format accepted")
	}
}

func TestServeMetricsServesPprofOnlyWhenAsked(t *testing.T) {
	get := func(t *testing.T, addr net.Addr, path string) int {
		t.Helper()
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	logger := slog.New(slog.DiscardHandler)
	for _, pprof := range []bool{true, false} {
		addr, err := ServeMetrics(t.Context(), logger, "127.0.0.1:0", prometheus.NewRegistry(), pprof)
		if err != nil {
			t.Fatal(err)
		}
		if code := get(t, addr, "/metrics"); code != http.StatusOK {
			t.Errorf("pprof %v: /metrics answered %d", pprof, code)
		}
		want := http.StatusNotFound
		if pprof {
			want = http.StatusOK
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
			if code := get(t, addr, path); code != want {
				t.Errorf("pprof %v: %s answered %d, want %d", pprof, path, code, want)
			}
		}
	}
}
