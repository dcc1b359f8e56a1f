package cliconf

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newSet() (*flag.FlagSet, *string, *time.Duration, *int) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	addr := fs.String("addr", ":9096", "")
	ttl := fs.Duration("access-ttl", 15*time.Minute, "")
	cost := fs.Int("bcrypt-cost", 12, "")
	fs.String(ConfigFlag, "", "")
	return fs, addr, ttl, cost
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte("addr: \":1\"\naccess_ttl: 1m\nbcrypt-cost: 11\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AUTH_ACCESS_TTL": "2m", "AUTH_ADDR": ":2"}
	getenv := MapEnv(env)

	fs, addr, ttl, cost := newSet()
	if err := Parse(fs, []string{"-addr", ":3", "-config", cfg}, getenv, "AUTH_"); err != nil {
		t.Fatal(err)
	}
	if *addr != ":3" { // flag beats env and file
		t.Errorf("addr = %q, want :3", *addr)
	}
	if *ttl != 2*time.Minute { // env beats file
		t.Errorf("ttl = %v, want 2m", *ttl)
	}
	if *cost != 11 { // file beats default
		t.Errorf("cost = %d, want 11", *cost)
	}

	fs, addr, _, _ = newSet()
	if err := Parse(fs, nil, MapEnv(nil), "AUTH_"); err != nil {
		t.Fatal(err)
	}
	if *addr != ":9096" {
		t.Errorf("default addr = %q", *addr)
	}
}

func TestConfigFromEnv(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("addr: \":7\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs, addr, _, _ := newSet()
	getenv := MapEnv(map[string]string{"AUTH_CONFIG": cfg})
	if err := Parse(fs, nil, getenv, "AUTH_"); err != nil {
		t.Fatal(err)
	}
	if *addr != ":7" {
		t.Errorf("addr = %q, want :7", *addr)
	}
}

func TestReportsEveryProblem(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("nonsense: 1\nbcrypt_cost: many\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs, _, _, _ := newSet()
	env := map[string]string{"AUTH_ACCESS_TTL": "soon"}
	err := Parse(fs, []string{"-config", cfg}, MapEnv(env), "AUTH_")
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"AUTH_ACCESS_TTL", `unknown setting "nonsense"`, "bcrypt_cost"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestMissingConfigFile(t *testing.T) {
	fs, _, _, _ := newSet()
	if err := Parse(fs, []string{"-config", filepath.Join(t.TempDir(), "nope.yaml")}, MapEnv(nil), "AUTH_"); err == nil {
		t.Fatal("want error for a missing config file")
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err      error
		want     int
		wantLine string
	}{
		{nil, 0, ""},
		{flag.ErrHelp, 0, ""},
		{fmt.Errorf("parse: %w", flag.ErrHelp), 0, ""},
		{errors.New("listen: address in use"), 1, "svc: listen: address in use\n"},
	} {
		var stderr bytes.Buffer
		if got := ExitCode("svc", tc.err, &stderr); got != tc.want || stderr.String() != tc.wantLine {
			t.Errorf("ExitCode(%v) = %d, %q; want %d, %q", tc.err, got, stderr.String(), tc.want, tc.wantLine)
		}
	}
}

func TestDurationNeedsUnit(t *testing.T) {
	var d time.Duration
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	DurationVar(fs, &d, "access-ttl", time.Minute, "")
	err := Parse(fs, nil, MapEnv(map[string]string{"AUTH_ACCESS_TTL": "15"}), "AUTH_")
	if err == nil || !strings.Contains(err.Error(), "AUTH_ACCESS_TTL: 15: a duration needs a unit, such as 15m") {
		t.Errorf("err = %v", err)
	}
	if err := Parse(fs, []string{"-access-ttl", "90s"}, MapEnv(nil), "AUTH_"); err != nil || d != 90*time.Second {
		t.Errorf("90s: %v, %v", d, err)
	}
}

// An empty variable counts as unset, except for an EmptyStringVar flag,
// where it is the value "" and beats the config file.
func TestEmptyVariable(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("addr: \":7\"\nmetrics-addr: 127.0.0.1:7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	parse := func(env map[string]string) (addr, metrics string) {
		t.Helper()
		fs, a, _, _ := newSet()
		var m string
		EmptyStringVar(fs, &m, "metrics-addr", "127.0.0.1:9097", "")
		if err := Parse(fs, []string{"-config", cfg}, MapEnv(env), "AUTH_"); err != nil {
			t.Fatal(err)
		}
		return *a, m
	}
	if addr, metrics := parse(nil); addr != ":7" || metrics != "127.0.0.1:7" {
		t.Errorf("unset: addr %q, metrics %q; want the file's :7 and 127.0.0.1:7", addr, metrics)
	}
	if addr, metrics := parse(map[string]string{"AUTH_ADDR": ":8", "AUTH_METRICS_ADDR": "127.0.0.1:8"}); addr != ":8" || metrics != "127.0.0.1:8" {
		t.Errorf("set: addr %q, metrics %q; want the variables' :8 and 127.0.0.1:8", addr, metrics)
	}
	if addr, metrics := parse(map[string]string{"AUTH_ADDR": "", "AUTH_METRICS_ADDR": ""}); addr != ":7" || metrics != "" {
		t.Errorf("empty: addr %q, metrics %q; want the file's :7 and \"\"", addr, metrics)
	}
}
