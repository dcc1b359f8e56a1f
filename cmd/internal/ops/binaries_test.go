package ops_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/authsvc/internal/testkit"
)

// buildAll builds every command the way `make build` does, with a known
// version stamped in, and returns the directory of the binaries.
func buildAll(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds every binary")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	bin := t.TempDir()
	const pkg = "github.com/example/authsvc/internal/version"
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-X "+pkg+".version=v9.9.9-test -X "+pkg+".revision=abc123", "-o", bin+"/", "./cmd/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestBinaries(t *testing.T) {
	bin := buildAll(t)

	t.Run("--version on every binary", func(t *testing.T) {
		for _, name := range []string{"authserver", "resource", "authctl", "demo", "healthcheck", "loadbench"} {
			for _, flag := range []string{"--version", "-version"} {
				out, err := exec.Command(filepath.Join(bin, name), flag).Output()
				if err != nil {
					t.Errorf("%s %s: %v", name, flag, err)
				}
				if want := name + " v9.9.9-test (revision abc123, go"; !strings.HasPrefix(string(out), want) {
					t.Errorf("%s %s printed %q, want %q...", name, flag, out, want)
				}
			}
		}
	})

	t.Run("resource with json logs prints nothing else, even in gin debug mode", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.Command(filepath.Join(bin, "resource"))
		cmd.Env = []string{
			"RESOURCE_ADDR=127.0.0.1:0", "RESOURCE_METRICS_ADDR=off", "RESOURCE_LOG_FORMAT=json",
			"RESOURCE_DB=sqlite:" + filepath.Join(dir, "items.db"),
			"RESOURCE_CLIENT_ID=rs", "RESOURCE_CLIENT_SECRET=not-used-here",
			"RESOURCE_INTROSPECT_URL=http://127.0.0.1:1/introspect",
			"GIN_MODE=debug",
		}
		stdout, stderr := &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if !testkit.Poll(10*time.Second, nil, func() bool { return strings.Contains(stderr.String(), `"msg":"listening"`) }) {
			_ = cmd.Process.Kill()
			t.Fatalf("not listening:\n%s", stderr)
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr)
		}
		// stdout holds only the line scripts wait for.
		if out := stdout.String(); !strings.HasPrefix(out, "listening on http://127.0.0.1:") || strings.Count(out, "\n") != 1 {
			t.Errorf("stdout: %q", out)
		}
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["service"] != "resource" {
				t.Errorf("stderr line not a JSON record of the service: %q", sc.Text())
			}
		}
	})
}
