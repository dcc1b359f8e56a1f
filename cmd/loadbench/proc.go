package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// binaries are the project's real commands, built the way `make build`
// builds them, so the benchmark measures what ships.
type binaries struct {
	authserver, resource string
}

func buildBinaries(ctx context.Context, root, dir string, stderr io.Writer) (binaries, error) {
	b := binaries{
		authserver: filepath.Join(dir, "authserver"),
		resource:   filepath.Join(dir, "resource"),
	}
	for _, c := range []struct{ out, pkg string }{
		{b.authserver, "./cmd/authserver"},
		{b.resource, "./cmd/resource"},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", c.out, c.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("build %s: %w", c.pkg, err)
		}
	}
	return b, nil
}

// moduleRoot is the directory of the go.mod that `go` sees from here, so the
// benchmark runs the same from the repository root or from cmd/loadbench.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the authsvc repository")
	}
	return filepath.Dir(gomod), nil
}

// childEnv is a service's whole environment: every variable of ours with
// the service's prefix (an operator's knobs such as
// AUTH_PASSWORD_CONCURRENCY or RESOURCE_PPROF reach that service untouched;
// a binary that does not know one ignores it), then the settings the
// benchmark owns, which win. Nothing else is inherited, so a stray variable
// in the shell cannot change the figures unnoticed.
func childEnv(environ []string, prefix string, owned map[string]string) []string {
	var env []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, prefix) && !mapHas(owned, name) {
			env = append(env, kv)
		}
	}
	for name, v := range owned {
		env = append(env, name+"="+v)
	}
	return env
}

// passedThrough lists the operator's settings with prefix that childEnv
// forwards (all but those in owned), for the report's header.
func passedThrough(environ []string, prefix string, owned map[string]string) []string {
	var out []string
	for _, kv := range childEnv(environ, prefix, nil) {
		if name, _, _ := strings.Cut(kv, "="); !mapHas(owned, name) {
			out = append(out, kv)
		}
	}
	return out
}

func mapHas(m map[string]string, key string) bool {
	_, ok := m[key]
	return ok
}

// authServer is one authserver process on its own port and database.
type authServer struct {
	url     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd.Wait returns
	waitErr error
	logPath string
}

// startAuthServer starts bin on a free 127.0.0.1 port with a fresh SQLite
// database in dir and waits until /healthz answers. The port is picked by
// binding :0 and closing it, so another process can take it before the
// server does: then the server exits at once and we try another port.
// Each of override ("NAME=value") replaces a setting the benchmark owns.
func startAuthServer(ctx context.Context, bin, root, dir string, environ []string, override ...string) (*authServer, error) {
	var lastErr error
	for attempt := range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		owned := ownedSettings(root, dir, addr, environ)
		for _, kv := range override {
			name, value, _ := strings.Cut(kv, "=")
			owned[name] = value
		}
		s, err := startOnce(ctx, bin, filepath.Join(dir, fmt.Sprintf("authserver-%d.log", attempt)), childEnv(environ, "AUTH_", owned))
		if err == nil {
			s.url = "http://" + addr
			return s, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

// ownedSettings are the authserver settings the benchmark decides.
// AUTH_BCRYPT_COST is the production default, set explicitly so the figures
// do not move if the default does; an operator's AUTH_BCRYPT_COST still wins
// (childEnv keeps it) and is printed in the header.
// runKEK is this run's key-encryption key.
var runKEK = func() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return base64.StdEncoding.EncodeToString(b)
}()

func ownedSettings(root, dir, addr string, environ []string) map[string]string {
	owned := map[string]string{
		"AUTH_ADDR":      addr,
		"AUTH_ISSUER":    "http://" + addr,
		"AUTH_DB":        "sqlite:" + filepath.Join(dir, "auth.db"),
		"AUTH_BOOTSTRAP": filepath.Join(root, "configs", "demo-bootstrap.yaml"),
	}
	if !setIn(environ, "AUTH_BCRYPT_COST") {
		owned["AUTH_BCRYPT_COST"] = "12"
	}
	// The signing keys of JWT access tokens are sealed with it: one
	// random key per benchmark run.
	if !setIn(environ, "AUTH_KEY_ENCRYPTION_KEY") && !setIn(environ, "AUTH_KEY_ENCRYPTION_KEY_FILE") {
		owned["AUTH_KEY_ENCRYPTION_KEY"] = runKEK
	}
	// Off unless asked for (to profile: AUTH_METRICS_ADDR and AUTH_PPROF):
	// the default port is one a `make run` may hold.
	if !setIn(environ, "AUTH_METRICS_ADDR") {
		owned["AUTH_METRICS_ADDR"] = "off"
	}
	return owned
}

// setIn reports whether environ sets name.
func setIn(environ []string, name string) bool {
	return slices.ContainsFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startOnce(ctx context.Context, bin, logPath string, env []string) (*authServer, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	// Not CommandContext: the server must get SIGTERM and time to shut
	// down, not SIGKILL when ctx ends; stop does that.
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdoutW, logFile
	err = cmd.Start()
	// The child holds its own copies.
	stdoutW.Close()
	logFile.Close()
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("start authserver: %w", err)
	}
	s := &authServer{cmd: cmd, exited: make(chan struct{}), logPath: logPath}

	// The server prints "listening on http://ADDR" once its socket is
	// bound: waiting for that line (not just any answer on the port) makes
	// sure it is our process that answers.
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		seen := false
		for sc.Scan() {
			if !seen && strings.HasPrefix(sc.Text(), "listening on http://") {
				seen = true
				close(listening)
			}
		}
		stdout.Close()
	}()
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	// Bootstrap hashes the demo passwords at cost 12: seconds on a busy
	// machine.
	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	select {
	case <-listening:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("authserver exited before listening (%v): %s", s.waitErr, logTail(logPath))
	case <-timer.C:
		err = errors.New("authserver not listening after 60s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.stop(5 * time.Second)
	return nil, err
}

// waitHealthy polls /healthz until it answers 200, for at most 10s.
func (s *authServer) waitHealthy(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	for range 100 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/healthz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.exited:
			return fmt.Errorf("authserver exited (%v): %s", s.waitErr, logTail(s.logPath))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("authserver /healthz not 200 after 10s")
}

// peakRSS is the process's peak resident set (VmHWM), as Linux reports it,
// or "n/a".
func (s *authServer) peakRSS() string {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return "n/a"
	}
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"))
			if err != nil {
				return "n/a"
			}
			return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
		}
	}
	return "n/a"
}

// stop sends SIGTERM and waits up to grace for a graceful exit, then kills.
// The server's own shutdown waits up to 10s for in-flight requests, and a
// flood leaves bcrypt comparisons running after their clients hung up, so
// an exit status of 1 after a flood is expected and not an error here.
func (s *authServer) stop(grace time.Duration) (killed bool) {
	select {
	case <-s.exited:
		return false
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return false
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return true
	}
}

// logTail is the end of the server's log, for an error message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}
