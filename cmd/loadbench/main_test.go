package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The load generator against a real HTTP server for ~200ms: every request
// the server saw is counted once, under the status it got.
func TestLoadCountsEveryAnswer(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1)%3 == 0 {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()

	client := newClient(net.IPv4(127, 0, 0, 1), 4, 5*time.Second)
	l := load{
		workers:  4,
		duration: 200 * time.Millisecond,
		do: func(ctx context.Context, _ int) (int, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			if err != nil {
				return 0, err
			}
			status, _, err := send(client, req)
			return status, err
		},
	}
	r := l.run(context.Background())

	if r.errors != 0 {
		t.Fatalf("errors = %d (first: %v), want 0", r.errors, r.firstErr)
	}
	if r.answers == 0 || int64(r.answers) != served.Load() {
		t.Fatalf("answers = %d, server served %d: want equal and > 0", r.answers, served.Load())
	}
	if got, want := r.status[http.StatusOK]+r.status[http.StatusTooManyRequests], r.answers; got != want || len(r.status) != 2 {
		t.Errorf("status = %v, want only 200 and 429 adding up to %d", r.status, want)
	}
	if got, want := r.status[http.StatusTooManyRequests], r.answers/3; got != want {
		t.Errorf("429s = %d, want every third answer: %d", got, want)
	}
	if len(r.latencies) != r.answers || !slices.IsSorted(r.latencies) {
		t.Errorf("latencies: %d samples, sorted %v; want %d, sorted", len(r.latencies), slices.IsSorted(r.latencies), r.answers)
	}
	if p50, p99 := r.percentile(50), r.percentile(99); p50 <= 0 || p50 > p99 || p99 > r.latencies[len(r.latencies)-1] {
		t.Errorf("p50 %v, p99 %v, max %v: want 0 < p50 ≤ p99 ≤ max", p50, p99, r.latencies[len(r.latencies)-1])
	}
}

// A cancelled context ends the load at once, and the requests it cut off
// are neither answers nor errors.
func TestLoadStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int64
	l := load{
		workers:  3,
		duration: time.Minute,
		do: func(ctx context.Context, _ int) (int, error) {
			if calls.Add(1) >= 20 {
				cancel()
				return 0, ctx.Err()
			}
			return http.StatusOK, nil
		},
	}
	r := l.run(ctx)
	if r.answers != 19 || r.errors != 0 {
		t.Errorf("answers %d, errors %d: want the 19 before the cancel and no error", r.answers, r.errors)
	}
}

func TestPercentile(t *testing.T) {
	var r result
	for i := 1; i <= 100; i++ {
		r.latencies = append(r.latencies, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{
		{50, 50 * time.Millisecond},
		{99, 99 * time.Millisecond},
		{99.5, 100 * time.Millisecond},
		{100, 100 * time.Millisecond},
		{0.1, 1 * time.Millisecond},
	} {
		if got := r.percentile(tc.p); got != tc.want {
			t.Errorf("p%v of 1..100ms = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := (result{}).percentile(99); got != 0 {
		t.Errorf("p99 of no samples = %v, want 0", got)
	}
	one := result{latencies: []time.Duration{7 * time.Millisecond}}
	if got := one.percentile(50); got != 7*time.Millisecond {
		t.Errorf("p50 of one 7ms sample = %v, want 7ms", got)
	}
}

func TestSourceAddrs(t *testing.T) {
	one := sourceAddrs(1, 64)
	many := sourceAddrs(64, 64)
	distinct := map[string]bool{}
	for i := range 64 {
		if got := one[i].String(); got != "127.0.0.2" {
			t.Fatalf("one source: worker %d on %s, want 127.0.0.2", i, got)
		}
		distinct[many[i].String()] = true
	}
	if len(distinct) != 64 || many[0].String() != "127.0.1.1" || many[63].String() != "127.0.1.64" {
		t.Errorf("64 sources: %d distinct, from %s to %s; want 64, 127.0.1.1 to 127.0.1.64", len(distinct), many[0], many[63])
	}
}

func TestChildEnv(t *testing.T) {
	environ := []string{"PATH=/bin", "AUTH_PASSWORD_QUEUE=32", "AUTH_DB=postgres://elsewhere", "HOME=/root", "RESOURCE_PPROF=true"}
	env := childEnv(environ, "AUTH_", map[string]string{"AUTH_DB": "sqlite:/tmp/x/auth.db"})
	slices.Sort(env)
	if want := []string{"AUTH_DB=sqlite:/tmp/x/auth.db", "AUTH_PASSWORD_QUEUE=32"}; !slices.Equal(env, want) {
		t.Errorf("childEnv = %q, want %q", env, want)
	}
	env = childEnv(environ, "RESOURCE_", map[string]string{"RESOURCE_ADDR": "127.0.0.1:1"})
	slices.Sort(env)
	if want := []string{"RESOURCE_ADDR=127.0.0.1:1", "RESOURCE_PPROF=true"}; !slices.Equal(env, want) {
		t.Errorf("resource childEnv = %q, want %q", env, want)
	}
}

// The attacker's and the legitimate login's source addresses are what the
// server sees: throttling by address is what the flood rows measure.
func TestNewClientBindsSource(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		w.Write([]byte(host))
	}))
	defer srv.Close()
	for _, from := range []net.IP{net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 1, 64)} {
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		client := newClient(from, 1, 5*time.Second)
		status, body, err := send(client, req)
		client.CloseIdleConnections()
		if err != nil || status != http.StatusOK || string(body) != from.String() {
			t.Errorf("from %s: status %d, server saw %q, err %v; want 200 and %s", from, status, body, err, from)
		}
	}
}

// TestMain lets the test binary stand in for loadbench in bareEnv mode,
// since a baseline process is this binary started again.
func TestMain(m *testing.M) {
	if name := os.Getenv(bareEnv); name != "" {
		if err := serveBare(name, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestBaselineInItsOwnProcess(t *testing.T) {
	b, err := startBareProcess(t.Context(), "introspect")
	if err != nil {
		t.Fatal(err)
	}
	post := func(withAuth bool) int {
		req, _ := http.NewRequest(http.MethodPost, b.url+"/introspect", strings.NewReader("token=abc"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if withAuth {
			req.SetBasicAuth("rs", "secret")
		}
		client := newClient(net.IPv4(127, 0, 0, 1), 1, 5*time.Second)
		defer client.CloseIdleConnections()
		status, body, err := send(client, req)
		if err != nil {
			t.Fatal(err)
		}
		if status == http.StatusOK && !strings.Contains(string(body), `"active":true`) {
			t.Errorf("200 without an active answer: %s", body)
		}
		return status
	}
	if got := post(true); got != http.StatusOK {
		t.Errorf("with credentials: %d, want 200", got)
	}
	if got := post(false); got != http.StatusBadRequest {
		t.Errorf("without credentials: %d, want 400", got)
	}
	b.Close()
	if b.cmd.ProcessState == nil || !b.cmd.ProcessState.Exited() {
		t.Errorf("the baseline process did not exit on Close: %v", b.cmd.ProcessState)
	}
	if _, err := http.Get(b.url); err == nil {
		t.Error("the baseline still answers after Close")
	}
	if _, err := startBareProcess(t.Context(), "nonesuch"); err == nil {
		t.Error("an unknown baseline started")
	}
}

func TestMergeAddsResultsUp(t *testing.T) {
	a := result{elapsed: time.Second, status: map[int]int{200: 2}, latencies: []time.Duration{3, 1}, answers: 2}
	b := result{elapsed: 2 * time.Second, status: map[int]int{200: 1, 503: 1}, errors: 1, firstErr: errors.New("x"),
		latencies: []time.Duration{2, 4}, answers: 2}
	m := merge(a, b)
	if m.elapsed != 3*time.Second || m.answers != 4 || m.status[200] != 3 || m.status[503] != 1 || m.errors != 1 || m.firstErr == nil {
		t.Errorf("merge = %+v", m)
	}
	if !slices.Equal(m.latencies, []time.Duration{1, 2, 3, 4}) {
		t.Errorf("latencies %v, want sorted 1..4", m.latencies)
	}
	if got := m.throughput(); got < 1.33 || got > 1.34 {
		t.Errorf("throughput %v, want 4 answers in 3s", got)
	}
}
