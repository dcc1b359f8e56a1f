package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A baseline is a bare net/http handler doing a row's parsing and
// answering a fixed body. Each speed row loads it twice:
//
//   - in the benchmark's own process, as the target was defined: the
//     ratio to it is the row's result;
//   - in a process of its own (this binary, started with bareEnv set), as
//     the real services run, to show whether sharing the load generator's
//     process and Go scheduler flatters the baseline. Measured in turns
//     (compareRounds), the in-process one was 3-18% faster on 2 cores.

// bareEnv, set to a baseline's name, makes this binary serve that baseline
// on a free loopback port, print "listening on http://ADDR" and serve until
// its standard input closes (so it never outlives the benchmark).
const bareEnv = "LOADBENCH_BARE"

var bareHandlers = map[string]http.HandlerFunc{
	"introspect": bareIntrospect,
	"items":      bareItems,
}

// compareRounds is how many turns the real service and its baselines take.
// The machine's speed drifts by tens of percent over seconds (other
// tenants, CPU boost): a row that measured the service for its whole
// duration and only then the baseline could catch the service in a slow
// spell and the baseline in a fast one. Taking turns, each sees the same
// spells.
const compareRounds = 3

// compareWithBaselines runs the load that mk makes for a base URL against
// the real service at serviceURL (res.main), the baseline name in this
// process (res.bare) and in its own (res.bareOwnProcess): in
// compareRounds turns each, one after the other, for the row's duration
// in all.
func compareWithBaselines(ctx context.Context, d time.Duration, name, serviceURL string, mk func(url string) load) (rowResult, error) {
	in, err := startBare(bareHandlers[name])
	if err != nil {
		return rowResult{}, err
	}
	defer in.Close()
	own, err := startBareProcess(ctx, name)
	if err != nil {
		return rowResult{}, err
	}
	defer own.Close()
	loads := []load{mk(serviceURL), mk(in.url), mk(own.url)} // each keeps its connections
	res := takeTurns(ctx, d, loads...)
	return rowResult{main: res[0], bare: &res[1], bareOwnProcess: &res[2]}, ctx.Err()
}

// takeTurns runs the loads one after the other, compareRounds times, for
// d in all, and returns each one's merged result. before, if set, runs
// before each turn of load i (outside the measured time).
func takeTurns(ctx context.Context, d time.Duration, loads ...load) []result {
	runs := make([][]result, len(loads))
	for range compareRounds {
		for i, l := range loads {
			if l.before != nil {
				l.before()
			}
			l.duration = d / compareRounds
			runs[i] = append(runs[i], l.run(ctx))
		}
	}
	out := make([]result, len(loads))
	for i := range runs {
		out[i] = merge(runs[i]...)
	}
	return out
}

// bareServer is a baseline: a plain net/http server in this process, or
// this binary in bareEnv mode.
type bareServer struct {
	url string
	// in this process
	srv *http.Server
	wg  sync.WaitGroup
	// in its own
	cmd     *exec.Cmd
	stdin   io.Closer
	drained chan struct{} // closed when its stdout is read to the end
}

func startBare(h http.HandlerFunc) (*bareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &bareServer{url: "http://" + ln.Addr().String(), srv: newBareServer(h)}
	b.wg.Go(func() { _ = b.srv.Serve(ln) })
	return b, nil
}

func newBareServer(h http.HandlerFunc) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
}

func startBareProcess(ctx context.Context, name string) (*bareServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = []string{bareEnv + "=" + name}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the %s baseline: %w", name, err)
	}
	b := &bareServer{cmd: cmd, stdin: stdin, drained: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		defer close(b.drained)
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		if u, ok := strings.CutPrefix(strings.TrimSpace(l), "listening on "); ok {
			b.url = u
			return b, nil
		}
		err = fmt.Errorf("the %s baseline printed %q", name, l)
	case <-time.After(10 * time.Second):
		err = fmt.Errorf("the %s baseline did not start in 10s", name)
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.Close()
	return nil, err
}

func (b *bareServer) Close() {
	if b.cmd == nil {
		_ = b.srv.Close()
		b.wg.Wait()
		return
	}
	// Closing stdin asks the baseline to stop; its stdout then ends, and
	// only after that may Wait close the pipe.
	_ = b.stdin.Close()
	select {
	case <-b.drained:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.drained
	}
	_ = b.cmd.Wait()
}

// serveBare is this binary in bareEnv mode.
func serveBare(name string, stdin io.Reader, stdout io.Writer) error {
	h, ok := bareHandlers[name]
	if !ok {
		return fmt.Errorf("%s=%q: no such baseline", bareEnv, name)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := newBareServer(h)
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		_ = srv.Close()
	}()
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

var bareRequests atomic.Int64 // keeps the compiler from dropping the parsing

// bareIntrospect does what any introspection endpoint must: read and parse
// the form body, decode HTTP Basic credentials, find the token.
func bareIntrospect(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "bad content type", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	form, err2 := url.ParseQuery(string(body))
	id, secret, ok := r.BasicAuth()
	if err != nil || err2 != nil || !ok || form.Get("token") == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	bareRequests.Add(int64(len(id) + len(secret)))
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, `{"active":true,"client_id":"demo-client","exp":4102444800,"iat":1700000000,"iss":"http://127.0.0.1","scope":"items:read items:write","sub":"alice","token_type":"Bearer","token_use":"access_token","username":"alice"}`+"\n")
}

// bareItems reads a bearer token from the Authorization header and answers
// one fixed item.
func bareItems(w http.ResponseWriter, r *http.Request) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	bareRequests.Add(int64(len(token)))
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, `{"items":[{"id":"01936f1e-0000-7000-8000-000000000000","name":"apple","created_at":"2026-01-01T00:00:00Z"}]}`+"\n")
}
