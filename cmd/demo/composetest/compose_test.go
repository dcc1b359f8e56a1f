package composetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

// This file loads the compose file with compose-go, the loader `docker
// compose` itself uses, strictly. What only a Docker Engine shows (the
// image builds, health checks pass inside it, the non-root user reads its
// secret, the demo passes) is `make compose-test`'s.

// repoRoot is where the compose file, the Dockerfile and configs/ live.
const repoRoot = "../../.."

// composeEnv is the whole environment the compose file is interpolated
// with: none. Every value is in the file, so `docker compose up` needs no
// .env, and the tests do not depend on the machine's environment.
var composeEnv = map[string]string{}

// appServices are the services built from this repository's Dockerfile.
var appServices = []string{"authserver", "resource", "demo"}

// loadCompose loads a compose file the strict way: schema validation (so
// unknown keys fail), consistency checks (a depends_on naming a missing
// service fails), interpolation that fails on any variable not in env, and
// any warning the loader logs is an error too.
func loadCompose(ctx context.Context, file types.ConfigFile, workingDir string, env map[string]string) (*types.Project, error) {
	var missing []string
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		if !ok {
			missing = append(missing, name)
		}
		return v, ok
	}

	// compose-go reports some problems (an unset variable, an obsolete
	// key) only as logrus warnings.
	var warnings bytes.Buffer
	out, level := logrus.StandardLogger().Out, logrus.GetLevel()
	logrus.SetOutput(&warnings)
	logrus.SetLevel(logrus.WarnLevel)
	defer func() {
		logrus.SetOutput(out)
		logrus.SetLevel(level)
	}()

	details := types.ConfigDetails{
		WorkingDir:  workingDir,
		ConfigFiles: []types.ConfigFile{file},
		Environment: env,
	}
	project, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SkipValidation = false
		o.SkipConsistencyCheck = false
		o.SkipInterpolation = false
		o.SkipNormalization = false
		o.SkipResolveEnvironment = false
		o.ResolvePaths = true
		o.Interpolate.LookupValue = lookup
	})
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("variables not set: %s", strings.Join(missing, ", ")))
	}
	if warnings.Len() > 0 {
		errs = append(errs, fmt.Errorf("loader warnings: %s", strings.TrimSpace(warnings.String())))
	}
	if err == nil {
		// The loader checks this too; it is the one thing compose would
		// otherwise discover only at `up`, so walk it here as well.
		for _, name := range sortedKeys(project.Services) {
			for dep := range project.Services[name].DependsOn {
				if _, ok := project.Services[dep]; !ok {
					errs = append(errs, fmt.Errorf("service %q depends on %q, which is not defined", name, dep))
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return project, nil
}

func composePath(t *testing.T) (file, workingDir string) {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "docker-compose.yml"), root
}

// mustLoadCompose loads the repository's docker-compose.yml.
func mustLoadCompose(t *testing.T) *types.Project {
	t.Helper()
	path, dir := composePath(t)
	project, err := loadCompose(t.Context(), types.ConfigFile{Filename: path}, dir, composeEnv)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return project
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// environment returns a service's environment; a variable without a value
// (taken from the host at `up`) is an error, since the demo must not
// depend on the host's environment.
func environment(t *testing.T, svc types.ServiceConfig) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range svc.Environment {
		if v == nil {
			t.Errorf("service %s: %s has no value (it would come from the host)", svc.Name, k)
			continue
		}
		env[k] = *v
	}
	return env
}

// argv is what a service runs: entrypoint then command (the image has no
// ENTRYPOINT).
func argv(svc types.ServiceConfig) []string {
	return slices.Concat([]string(svc.Entrypoint), []string(svc.Command))
}

// binaryOf names the cmd/ package of an image path such as
// /usr/local/bin/authserver, or "" if there is none.
func binaryOf(path string) string {
	name, ok := strings.CutPrefix(path, "/usr/local/bin/")
	if !ok || strings.Contains(name, "/") {
		return ""
	}
	if fi, err := os.Stat(filepath.Join(repoRoot, "cmd", name)); err != nil || !fi.IsDir() {
		return ""
	}
	return name
}

func TestComposeFile(t *testing.T) {
	project := mustLoadCompose(t)
	_, root := composePath(t)

	if got, want := sortedKeys(project.Services), []string{"authserver", "demo", "postgres", "resource"}; !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}

	// Start order: each dependency healthy before its dependents start.
	wantDeps := map[string][]string{
		"postgres":   nil,
		"authserver": {"postgres"},
		"resource":   {"authserver", "postgres"},
		"demo":       {"resource"},
	}
	for name, want := range wantDeps {
		svc := project.Services[name]
		if got := sortedKeys(svc.DependsOn); !slices.Equal(got, want) {
			t.Errorf("%s depends on %v, want %v", name, got, want)
		}
		for dep, d := range svc.DependsOn {
			if d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s depends on %s with condition %q, want %q", name, dep, d.Condition, types.ServiceConditionHealthy)
			}
			if hc := project.Services[dep].HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
				t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
			}
		}
	}

	for _, name := range appServices {
		svc := project.Services[name]
		if svc.Build == nil || svc.Build.Context != root {
			t.Errorf("%s: want build: . (the repository's Dockerfile), got %+v", name, svc.Build)
		}
		if len(svc.Entrypoint) > 0 {
			t.Errorf("%s: set command, not entrypoint", name)
		}
		cmd := argv(svc)
		if len(cmd) == 0 || binaryOf(cmd[0]) != name {
			t.Errorf("%s: command %q, want /usr/local/bin/%s", name, cmd, name)
		}
		env := environment(t, svc)
		checkEnvNamesKnown(t, name, env)
		if name == "demo" {
			if svc.Restart != types.RestartPolicyNo {
				t.Errorf("demo: restart %q, want \"no\" (one-shot)", svc.Restart)
			}
			continue
		}
		// The runtime image is distroless: no shell, so only the CMD form
		// of a binary that the image holds can work.
		hc := svc.HealthCheck
		if hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" || binaryOf(hc.Test[1]) == "" {
			t.Errorf("%s: health check %v: want [CMD /usr/local/bin/<one of cmd/> ...]", name, hc)
		}
		if len(svc.Ports) != 1 {
			t.Errorf("%s: want one published port, got %v", name, svc.Ports)
		}
		checkMetricsOnTheNetwork(t, svc, env)
	}

	pg := project.Services["postgres"]
	if pg.Image != "postgres:15" {
		t.Errorf("postgres image %q, want postgres:15", pg.Image)
	}
	if hc := pg.HealthCheck; hc == nil || !slices.Contains(hc.Test, "pg_isready") {
		t.Errorf("postgres health check %v: want pg_isready", hc)
	}
	var dataVolume, initScripts bool
	for _, v := range pg.Volumes {
		switch {
		case v.Type == types.VolumeTypeVolume && v.Target == "/var/lib/postgresql/data":
			if _, ok := project.Volumes[v.Source]; !ok {
				t.Errorf("postgres volume %q is not declared", v.Source)
			}
			dataVolume = true
		case v.Type == types.VolumeTypeBind && v.Target == "/docker-entrypoint-initdb.d":
			if fi, err := os.Stat(v.Source); err != nil || !fi.IsDir() {
				t.Errorf("postgres init scripts %s: not a directory: %v", v.Source, err)
			}
			initScripts = true
		}
	}
	if !dataVolume || !initScripts {
		t.Errorf("postgres volumes %+v: want a named data volume and the init scripts", pg.Volumes)
	}

	// Each service has its own database on the postgres service, with the
	// credentials that service (and its init script) sets up.
	pgEnv := environment(t, pg)
	authDB := project.Services["authserver"].Environment["AUTH_DB"]
	itemsDB := project.Services["resource"].Environment["RESOURCE_DB"]
	if authDB == nil || itemsDB == nil {
		t.Fatal("AUTH_DB or RESOURCE_DB is not set")
	}
	checkDSN(t, "AUTH_DB", *authDB, pgEnv["POSTGRES_USER"], pgEnv["POSTGRES_PASSWORD"], pgEnv["POSTGRES_DB"])
	checkDSN(t, "RESOURCE_DB", *itemsDB, pgEnv["ITEMS_DB_USER"], pgEnv["ITEMS_DB_PASSWORD"], pgEnv["ITEMS_DB_NAME"])
	if pgEnv["POSTGRES_DB"] == pgEnv["ITEMS_DB_NAME"] {
		t.Error("the two services share a database")
	}

	// Secrets are files that exist; the resource service reads its client
	// secret from one.
	for name, s := range project.Secrets {
		if _, err := os.Stat(s.File); err != nil {
			t.Errorf("secret %s: %v", name, err)
		}
	}
	if f := project.Services["resource"].Environment["RESOURCE_CLIENT_SECRET_FILE"]; f == nil || *f != "/run/secrets/resource_client_secret" {
		t.Errorf("resource: want RESOURCE_CLIENT_SECRET_FILE=/run/secrets/resource_client_secret")
	}
}

// metricsEnv names each service's metrics listen address.
var metricsEnv = map[string]string{"authserver": "AUTH_METRICS_ADDR", "resource": "RESOURCE_METRICS_ADDR"}

// checkMetricsOnTheNetwork: a service's metrics listener binds every
// interface of its container, so that a scraper on the compose network
// reaches it (the default, 127.0.0.1, is the container's own loopback), is
// listed under expose, and is not published on the host.
func checkMetricsOnTheNetwork(t *testing.T, svc types.ServiceConfig, env map[string]string) {
	t.Helper()
	name := metricsEnv[svc.Name]
	addr, ok := env[name]
	if name == "" || !ok {
		t.Errorf("%s: %s is not set; its default, 127.0.0.1, is unreachable from the compose network", svc.Name, name)
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("%s: %s=%q: %v", svc.Name, name, addr, err)
		return
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("%s: %s=%q binds %q; want every interface (\":%s\")", svc.Name, name, addr, host, port)
	}
	if !slices.Contains([]string(svc.Expose), port) {
		t.Errorf("%s: metrics port %s is not under expose %v", svc.Name, port, svc.Expose)
	}
	for _, p := range svc.Ports {
		if strconv.FormatUint(uint64(p.Target), 10) == port || p.Published == port {
			t.Errorf("%s: metrics port %s is published on the host (%+v)", svc.Name, port, p)
		}
	}
}

// checkDSN checks that a database URL points at the postgres service with
// the given credentials.
func checkDSN(t *testing.T, name, dsn, user, password, database string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Errorf("%s is not a URL", name)
		return
	}
	pw, _ := u.User.Password()
	if u.Scheme != "postgres" || u.Host != "postgres:5432" || u.User.Username() != user || pw != password || strings.TrimPrefix(u.Path, "/") != database {
		t.Errorf("%s: want postgres://%s:…@postgres:5432/%s (the postgres service's settings), got user %q host %q database %q",
			name, user, database, u.User.Username(), u.Host, strings.TrimPrefix(u.Path, "/"))
	}
}

// checkEnvNamesKnown fails for an environment variable the service's
// command does not document in its -h output: cliconf ignores unknown names
// silently, so a typo such as AUTH_ISUER would otherwise fall back to a
// default unnoticed.
func checkEnvNamesKnown(t *testing.T, binary string, env map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// -h exits non-zero by design; only the text matters.
	usage, _ := exec.CommandContext(ctx, filepath.Join(imageBinaries(t), binary), "-h").CombinedOutput()
	if !bytes.Contains(usage, []byte("-h")) && !bytes.Contains(usage, []byte("Usage")) {
		t.Errorf("%s -h printed no usage:\n%s", binary, usage)
		return
	}
	for _, name := range sortedKeys(env) {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`).Match(usage) {
			t.Errorf("%s: environment variable %s is not one that %s -h documents", binary, name, binary)
		}
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// imageBinaries builds ./cmd/... once per test binary the way the Docker
// image does (the Makefile's command; see TestDockerfileBuildsLikeTheMakefile)
// into a directory that stands for the image's /usr/local/bin.
func imageBinaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "authsvc-demo-bin-")
		if buildErr != nil {
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = "go" // go test puts its GOROOT/bin first on PATH; runtime.GOROOT is deprecated
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", buildDir+string(filepath.Separator), "./cmd/...")
		c.Dir = repoRoot
		c.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := c.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/...: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// TestComposeLoaderRejects proves the strict load above is strict: each
// broken copy of the real file must fail to load.
func TestComposeLoaderRejects(t *testing.T) {
	path, root := composePath(t)
	original, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new string
	}{
		{"typo in a service key",
			"    environment:\n      AUTH_ADDR", "    enviroment:\n      AUTH_ADDR"},
		{"unknown top-level key",
			"\nvolumes:\n  pgdata:\n", "\nvolume:\n  pgdata:\n"},
		{"depends_on a missing service",
			"      resource:\n        condition: service_healthy\n", "      resources:\n        condition: service_healthy\n"},
		{"short-form depends_on a missing service",
			"    depends_on:\n      resource:\n        condition: service_healthy\n", "    depends_on: [resourse]\n"},
		{"variable not set",
			`      AUTH_ADDR: ":9096"`, `      AUTH_ADDR: ":${AUTH_PORT}"`},
		{"bad healthcheck field",
			"      retries: 30\n    restart: unless-stopped\n\n  authserver:", "      retrys: 30\n    restart: unless-stopped\n\n  authserver:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(original, []byte(tt.old)) {
				t.Fatalf("docker-compose.yml no longer contains %q: update this test", tt.old)
			}
			broken := bytes.Replace(original, []byte(tt.old), []byte(tt.new), 1)
			file := types.ConfigFile{Filename: filepath.Join(t.TempDir(), "docker-compose.yml"), Content: broken}
			_, err := loadCompose(t.Context(), file, root, composeEnv)
			if err == nil {
				t.Fatal("the broken file loaded")
			}
			t.Logf("rejected: %v", err)
		})
	}

	// And the unbroken content, by the same route, loads.
	file := types.ConfigFile{Filename: filepath.Join(t.TempDir(), "docker-compose.yml"), Content: original}
	if _, err := loadCompose(t.Context(), file, root, composeEnv); err != nil {
		t.Fatalf("the original content failed to load: %v", err)
	}
}
