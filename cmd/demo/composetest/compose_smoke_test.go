package composetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/example/authsvc/cmd/demo/internal/dockerfile"
	"github.com/example/authsvc/internal/testkit"
	"github.com/example/authsvc/store/postgres/pgtest"
	"go.yaml.in/yaml/v3"
)

// TestComposeSmoke runs the compose demo without Docker: each application
// service starts natively from its compose definition (the same command
// and environment; container host names rewritten to loopback, container
// ports to free local ports, image paths to a fresh build and the
// repository's files, the postgres service to TEST_POSTGRES_URL's server
// with two fresh databases made by the compose init script), then the demo
// service runs and every step must pass.
func TestComposeSmoke(t *testing.T) {
	admin := pgtest.AdminURL(t)
	project := mustLoadCompose(t)
	ctx := t.Context()
	_, root := composePath(t)

	bin := imageBinaries(t)
	rw := newRewriter(t, project, root, bin)
	rw.setUpDatabases(ctx, admin, project.Services["postgres"])

	// Start in dependency order; each must pass its own compose health
	// check, run natively, before its dependents start.
	for _, name := range []string{"authserver", "resource"} {
		svc := project.Services[name]
		cmd := rw.argv(svc)
		env := rw.env(svc)
		p := startProcess(t, name, cmd, env)
		hc := rw.strings(svc, []string(svc.HealthCheck.Test[1:]))
		waitHealthy(t, p, hc, 60*time.Second)
	}

	// The issuer is the host's view (the published port): a user on the
	// host finds every endpoint there.
	auth := project.Services["authserver"]
	issuer := rw.env(auth)["AUTH_ISSUER"]
	checkMetadata(t, issuer)

	demo := project.Services["demo"]
	cmd := rw.argv(demo)
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(runCtx, cmd[0], cmd[1:]...)
	c.Env = envList(rw.env(demo))
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	start := time.Now()
	err := c.Run()
	t.Logf("demo (%s, %v):\n%s", strings.Join(cmd[1:], " "), time.Since(start).Round(time.Millisecond), stdout.String())
	if err != nil {
		t.Fatalf("demo: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	if n := strings.Count(out, "PASS"); n != 9 || strings.Contains(out, "FAIL") || !strings.Contains(out, "all 9 steps behaved as stated") {
		t.Errorf("want 9 passing steps, got %d PASS", n)
	}
	for _, secret := range bootstrapSecrets(t) {
		if strings.Contains(out+stderr.String(), secret) {
			t.Errorf("the demo printed a secret (%s…)", secret[:4])
		}
	}
}

// rewriter maps what a container sees to what a native process on this
// machine sees.
type rewriter struct {
	t       *testing.T
	project *types.Project
	// paths maps image path prefixes (from the Dockerfile's COPY lines) and
	// secret mounts to local paths.
	paths map[string]string
	// hosts maps "service:port" (and the host's published ports) to
	// "127.0.0.1:free".
	hosts map[string]string
	// ownPort is each service's container port, and local the free port
	// that stands for it.
	ownPort, local map[string]string
	// db maps the postgres service's names (users, databases) to the test
	// server's, and postgres:5432 to its address.
	db       map[string]string
	dbHost   string
	adminURL *url.URL
}

func newRewriter(t *testing.T, project *types.Project, root, bin string) *rewriter {
	t.Helper()
	rw := &rewriter{
		t: t, project: project,
		paths: map[string]string{}, hosts: map[string]string{},
		ownPort: map[string]string{}, local: map[string]string{}, db: map[string]string{},
	}

	// Image paths: the runtime stage's COPY lines say where things are.
	stages, err := dockerfile.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range stages[len(stages)-1].Body {
		if in.Cmd != "COPY" {
			continue
		}
		fields := strings.Fields(in.Args)
		src, dst := fields[len(fields)-2], fields[len(fields)-1]
		if strings.HasPrefix(fields[0], "--from=") {
			// The build stage's bin/ is our fresh build.
			rw.paths[dst] = bin + string(filepath.Separator)
		} else {
			rw.paths[dst] = filepath.Join(root, src) + string(filepath.Separator)
		}
	}
	// Secret mounts.
	for _, svc := range project.Services {
		for _, s := range svc.Secrets {
			target := s.Target
			if target == "" {
				target = "/run/secrets/" + s.Source
			}
			if !strings.HasPrefix(target, "/") {
				target = "/run/secrets/" + target
			}
			rw.paths[target] = project.Secrets[s.Source].File
		}
	}

	// Ports: a free local port for each published service.
	for _, name := range sortedKeys(project.Services) {
		svc := project.Services[name]
		if len(svc.Ports) == 0 {
			continue
		}
		p := svc.Ports[0]
		free := freePort(t)
		target := strconv.Itoa(int(p.Target))
		rw.ownPort[name], rw.local[name] = target, free
		rw.hosts[name+":"+target] = "127.0.0.1:" + free
		rw.hosts["localhost:"+p.Published] = "127.0.0.1:" + free
		rw.hosts["127.0.0.1:"+p.Published] = "127.0.0.1:" + free
	}
	return rw
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// setUpDatabases stands in for the postgres service: a fresh database for
// POSTGRES_DB, and the compose init script, run natively against the test
// server, for the resource service's role and database. Their names get a
// random suffix (roles are server-wide) and are dropped afterwards.
func (rw *rewriter) setUpDatabases(ctx context.Context, admin string, pg types.ServiceConfig) {
	t := rw.t
	t.Helper()
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatal("TEST_POSTGRES_URL: want a postgres:// URL")
	}
	rw.adminURL, rw.dbHost = u, u.Host
	pgEnv := environment(t, pg)
	suffix := "_" + strings.ToLower(rand.Text()[:10])
	authDB := "authsvc_smoke_auth" + suffix
	itemsUser := "authsvc_smoke_items" + suffix
	itemsDB := itemsUser
	rw.db[pgEnv["POSTGRES_USER"]] = u.User.Username()
	rw.db[pgEnv["POSTGRES_DB"]] = authDB
	rw.db[pgEnv["ITEMS_DB_USER"]] = itemsUser
	rw.db[pgEnv["ITEMS_DB_NAME"]] = itemsDB

	pgtest.Exec(t, admin, "CREATE DATABASE "+authDB)
	// Registered first, so it runs after the services are stopped.
	t.Cleanup(func() {
		pgtest.Exec(t, admin, "DROP DATABASE IF EXISTS "+itemsDB+" WITH (FORCE)")
		pgtest.Exec(t, admin, "DROP DATABASE IF EXISTS "+authDB+" WITH (FORCE)")
		pgtest.Exec(t, admin, "DROP ROLE IF EXISTS "+itemsUser)
	})

	// The postgres image runs the init scripts as POSTGRES_USER on
	// POSTGRES_DB over its socket; here the PG* variables point psql at the
	// test server instead.
	for _, v := range pg.Volumes {
		if v.Target != "/docker-entrypoint-initdb.d" {
			continue
		}
		scripts, _ := filepath.Glob(filepath.Join(v.Source, "*.sh"))
		if len(scripts) == 0 {
			t.Fatalf("no init scripts in %s", v.Source)
		}
		env := map[string]string{}
		for k, val := range pgEnv {
			env[k] = rw.db[val]
			if env[k] == "" {
				env[k] = val // the password
			}
		}
		env["PATH"] = psqlPath(t) + string(os.PathListSeparator) + os.Getenv("PATH")
		env["PGHOST"], env["PGPORT"] = u.Hostname(), u.Port()
		if pw, ok := u.User.Password(); ok {
			env["PGPASSWORD"] = pw
		}
		for _, script := range scripts {
			c := exec.CommandContext(ctx, script)
			c.Env = envList(env)
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", script, err, out)
			}
		}
	}
}

// psqlPath is the directory of psql: on PATH, or where .ci/postgres.sh
// finds the server binaries.
func psqlPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("psql"); err == nil {
		return filepath.Dir(p)
	}
	dir := os.Getenv("PG_BIN")
	if dir == "" {
		dir = "/usr/lib/postgresql/15/bin"
	}
	if _, err := os.Stat(filepath.Join(dir, "psql")); err != nil {
		t.Fatalf("psql not found on PATH or in %s: the compose init script needs it", dir)
	}
	return dir
}

// containerHost finds a container host name left in a value after
// rewriting.
var containerHost = regexp.MustCompile(`(^|//|@)(postgres|authserver|resource|demo)(:\d+|[/?]|$)`)

// string rewrites one value of svc's command, environment or health check.
func (rw *rewriter) string(svc types.ServiceConfig, v string) string {
	t := rw.t
	t.Helper()
	// A listen address such as ":9096" is the service's own port.
	if strings.HasPrefix(v, ":") && v == ":"+rw.ownPort[svc.Name] {
		return "127.0.0.1:" + rw.local[svc.Name]
	}
	if strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://") {
		return rw.dsn(v)
	}
	// Inside a container, loopback is the service itself.
	pairs := []string{}
	if own := rw.ownPort[svc.Name]; own != "" {
		pairs = append(pairs, "127.0.0.1:"+own, "127.0.0.1:"+rw.local[svc.Name], "localhost:"+own, "127.0.0.1:"+rw.local[svc.Name])
	}
	for _, from := range sortedKeys(rw.hosts) {
		pairs = append(pairs, from, rw.hosts[from])
	}
	v = strings.NewReplacer(pairs...).Replace(v)
	for _, prefix := range sortedKeys(rw.paths) {
		if strings.HasPrefix(v, prefix) {
			if strings.HasSuffix(prefix, "/") {
				v = rw.paths[prefix] + strings.TrimPrefix(v, prefix)
			} else if v == prefix {
				v = rw.paths[prefix]
			}
			break
		}
	}
	if containerHost.MatchString(v) {
		t.Fatalf("service %s: %q still names a container after rewriting", svc.Name, v)
	}
	if strings.HasPrefix(v, "/") {
		if _, err := os.Stat(v); err != nil {
			t.Fatalf("service %s: container path %q has no local counterpart: %v", svc.Name, v, err)
		}
	}
	return v
}

func (rw *rewriter) strings(svc types.ServiceConfig, vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = rw.string(svc, v)
	}
	return out
}

func (rw *rewriter) argv(svc types.ServiceConfig) []string { return rw.strings(svc, argv(svc)) }

func (rw *rewriter) env(svc types.ServiceConfig) map[string]string {
	env := environment(rw.t, svc)
	for k, v := range env {
		env[k] = rw.string(svc, v)
	}
	return env
}

// dsn points a database URL of the postgres service at the test server,
// with that server's names for the user and the database; a password stays
// (the init script set it), except the superuser's, which becomes the test
// server's.
func (rw *rewriter) dsn(v string) string {
	t := rw.t
	t.Helper()
	u, err := url.Parse(v)
	if err != nil || u.Host != "postgres:5432" {
		t.Fatalf("a database URL that is not the postgres service's")
	}
	user, ok := rw.db[u.User.Username()]
	if !ok {
		t.Fatalf("database URL user %q is not one the postgres service creates", u.User.Username())
	}
	database, ok := rw.db[strings.TrimPrefix(u.Path, "/")]
	if !ok {
		t.Fatalf("database URL database %q is not one the postgres service creates", strings.TrimPrefix(u.Path, "/"))
	}
	pw, _ := u.User.Password()
	if user == rw.adminURL.User.Username() {
		pw, _ = rw.adminURL.User.Password()
	}
	u.Host = rw.dbHost
	u.Path = "/" + database
	if pw != "" {
		u.User = url.UserPassword(user, pw)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

func envList(env map[string]string) []string {
	list := make([]string, 0, len(env))
	for _, k := range sortedKeys(env) {
		list = append(list, k+"="+env[k])
	}
	return list
}

// process is one native service; its output is kept for failure reports.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *testkit.SyncBuffer
	done chan struct{}
	err  error
}

// startProcess starts argv with exactly env (as in its container) and stops
// it when the test ends: SIGTERM, then SIGKILL after 10s.
func startProcess(t *testing.T, name string, argv []string, env map[string]string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(argv[0], argv[1:]...), out: &testkit.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = envList(env)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("%s did not stop within 10s of SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// waitHealthy runs the service's compose health check until it passes.
func waitHealthy(t *testing.T, p *process, check []string, limit time.Duration) {
	t.Helper()
	var last string
	healthy := testkit.Poll(limit, p.done, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, check[0], check[1:]...).CombinedOutput()
		if err != nil {
			last = fmt.Sprintf("%v %s", err, out)
		}
		return err == nil
	})
	if healthy {
		return
	}
	select {
	case <-p.done:
		t.Fatalf("%s exited before it was healthy: %v\n%s", p.name, p.err, p.out.String())
	default:
		t.Fatalf("%s not healthy within %v: %s: %s\n%s", p.name, limit, strings.Join(check, " "), last, p.out.String())
	}
}

func checkMetadata(t *testing.T, issuer string) {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatalf("metadata at the issuer: %v", err)
	}
	defer resp.Body.Close()
	var md struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata: status %d, %v", resp.StatusCode, err)
	}
	if md.Issuer != issuer || md.TokenEndpoint != issuer+"/token" {
		t.Errorf("metadata issuer %q token_endpoint %q; want them at %s", md.Issuer, md.TokenEndpoint, issuer)
	}
}

// bootstrapSecrets returns every password and secret of the demo bootstrap
// (demo-only values, public in git): the demo must print none of them.
func bootstrapSecrets(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "configs", "demo-bootstrap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var bootstrap struct {
		Users []struct {
			Password string `yaml:"password"`
		} `yaml:"users"`
		Clients []struct {
			Secret string `yaml:"secret"`
		} `yaml:"clients"`
	}
	if err := yaml.Unmarshal(data, &bootstrap); err != nil {
		t.Fatalf("demo-bootstrap.yaml: %v", err)
	}
	var secrets []string
	for _, u := range bootstrap.Users {
		secrets = append(secrets, u.Password)
	}
	for _, c := range bootstrap.Clients {
		secrets = append(secrets, c.Secret)
	}
	secrets = slices.DeleteFunc(secrets, func(s string) bool { return s == "" })
	// The demo logs alice in through two clients: at least those three.
	if len(secrets) < 3 {
		t.Fatalf("demo-bootstrap.yaml: found %d passwords and secrets, want at least 3", len(secrets))
	}
	return secrets
}
