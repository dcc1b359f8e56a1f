// Package scripts_test runs run-local.sh (`make run`) with binaries built
// once into a temp dir, on free ports and a temp data dir, so that it never
// meets a `make run` of the developer's.
package scripts_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/example/authsvc/internal/testkit"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds authserver and resource once per test binary, as
// `make build` does.
func binaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the services")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "authsvc-run-local-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", binDir+string(filepath.Separator), "./cmd/authserver", "./cmd/resource")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// freeAddrs returns n loopback addresses whose ports were free a moment ago.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // all held until the last is picked, so they differ
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// runLocal is one run of the script, in a process group of its own (as
// `make run` is in the terminal's), with its data in dataDir.
type runLocal struct {
	cmd            *exec.Cmd
	stdout, stderr testkit.SyncBuffer
	done           chan struct{}
	err            error // cmd.Wait's, once done is closed
}

// argv runs the script (bash run-local.sh, the default, in this directory).
func startRunLocal(t *testing.T, dataDir string, addrs []string, argv ...string) *runLocal {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTH_") && !strings.HasPrefix(kv, "RESOURCE_") && !strings.HasPrefix(kv, "RUN_LOCAL_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"RUN_LOCAL_BIN_DIR="+binaries(t),
		"AUTH_ADDR="+addrs[0], "RESOURCE_ADDR="+addrs[1],
		"AUTH_METRICS_ADDR="+addrs[2], "RESOURCE_METRICS_ADDR="+addrs[3],
		"AUTH_DB=sqlite:"+filepath.Join(dataDir, "auth.db"),
		"RESOURCE_DB=sqlite:"+filepath.Join(dataDir, "items.db"),
		"AUTH_BCRYPT_COST=4", // the bootstrap's hashes; the cost is not what is tested
	)
	if len(argv) == 0 {
		argv = []string{"bash", "run-local.sh"}
	}
	r := &runLocal{cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{})}
	r.cmd.Env = env
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			<-r.done
		}
	})
	return r
}

// wait waits for the script to end and returns its exit status.
func (r *runLocal) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		t.Fatalf("run-local.sh still running %v later; stderr:\n%s", timeout, &r.stderr)
	}
	var exit *exec.ExitError
	if r.err != nil && !errors.As(r.err, &exit) {
		t.Fatal(r.err)
	}
	return r.cmd.ProcessState.ExitCode()
}

// TestRunLocalCtrlC: both services start, and Ctrl-C (SIGINT to the whole
// process group, as the terminal sends it) stops both and ends the script
// with status 0 and no complaint: from a terminal, where the script's trap
// runs, and with SIGINT ignored from the start (a background job of a
// non-interactive shell), where bash cannot trap it and only the services
// see it. The script used to say "a service stopped on its own (status 0)"
// and exit 1 then.
func TestRunLocalCtrlC(t *testing.T) {
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"trapped", []string{"bash", "run-local.sh"}},
		{"SIGINT ignored on entry", []string{"bash", "-c", `trap "" INT; exec bash run-local.sh`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			addrs := freeAddrs(t, 4)
			r := startRunLocal(t, dataDir, addrs, tc.argv...)
			started := func() bool {
				s := r.stderr.String()
				return strings.Contains(s, "authserver: listening on ") && strings.Contains(s, "resource: listening on ") &&
					strings.Contains(s, "(Ctrl-C stops both)")
			}
			if !testkit.Poll(60*time.Second, r.done, started) {
				t.Fatalf("the services did not both start; stderr:\n%s", &r.stderr)
			}
			// The demo's key-encryption key is made beside the database,
			// readable by its owner only, and the server signs with a key
			// sealed under it: the JWKS publishes one.
			if fi, err := os.Stat(filepath.Join(dataDir, "key-encryption-key")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("key-encryption key: %v, %v; want a file of mode 0600", fi, err)
			}
			if resp, err := http.Get("http://" + addrs[0] + "/.well-known/jwks.json"); err != nil {
				t.Errorf("JWKS: %v", err)
			} else {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(string(body), `"kid"`) {
					t.Errorf("JWKS %s: want a key", body)
				}
			}
			// Once it printed that line, the script's next step is `wait -n`:
			// send the signal there, where it used to go wrong.
			if !testkit.Poll(10*time.Second, r.done, func() bool { return inWait(r.cmd.Process.Pid) }) {
				t.Log("could not see the script waiting (no /proc/PID/wchan?); sending Ctrl-C anyway")
			}

			if err := syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			if code := r.wait(t, 30*time.Second); code != 0 {
				t.Errorf("exit status %d after Ctrl-C, want 0; stderr:\n%s", code, &r.stderr)
			}
			if s := r.stderr.String(); strings.Contains(s, "stopped on its own") || strings.Contains(s, "run-local: ") {
				t.Errorf("run-local complained after Ctrl-C:\n%s", s)
			}
			// Nothing of the group is left: both services were waited for.
			if err := syscall.Kill(-r.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("the process group still has members after the script ended (kill 0: %v)", err)
			}
		})
	}
}

// inWait reports whether process pid is blocked waiting for a child
// (Linux: /proc/PID/wchan names the kernel's do_wait).
func inWait(pid int) bool {
	wchan, err := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
	return err == nil && string(wchan) == "do_wait"
}

// TestRunLocalRefusesTakenPorts: with any of the four ports taken, the
// script names the port and the variable that moves it, and starts
// nothing: the bootstrap never touches the database.
func TestRunLocalRefusesTakenPorts(t *testing.T) {
	names := []string{"AUTH_ADDR", "RESOURCE_ADDR", "AUTH_METRICS_ADDR", "RESOURCE_METRICS_ADDR"}
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			addrs := freeAddrs(t, 4)
			ln, err := net.Listen("tcp", addrs[i])
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			dataDir := t.TempDir()
			r := startRunLocal(t, dataDir, addrs)
			if code := r.wait(t, 30*time.Second); code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			_, port, _ := net.SplitHostPort(addrs[i])
			stderr := r.stderr.String()
			if want := fmt.Sprintf("run-local: port %s (%s=%s) is in use", port, name, addrs[i]); !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
			for j, other := range names {
				if j != i && strings.Contains(stderr, other+"=") {
					t.Errorf("stderr names %s, whose port is free:\n%s", other, stderr)
				}
			}
			if strings.Contains(stderr, "listening on") {
				t.Errorf("a service started:\n%s", stderr)
			}
			if entries, err := os.ReadDir(dataDir); err != nil || len(entries) != 0 {
				t.Errorf("the data dir holds %v (%v), want nothing: no service may have opened its database", entries, err)
			}
		})
	}
}
