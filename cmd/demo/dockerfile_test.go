package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
	line int
}

// stage is one FROM and what follows it.
type stage struct {
	from, name string
	body       []instruction
}

// readDockerfile parses path into stages: enough of the format for these
// checks (comments, continuations, FROM ... AS name).
func readDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		stages  []stage
		pending strings.Builder
		start   int
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if pending.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			pending.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		pending.WriteString(line)
		cmd, args, _ := strings.Cut(pending.String(), " ")
		pending.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " "), line: start}
		if in.cmd == "FROM" {
			fields := strings.Fields(in.args)
			s := stage{from: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s:%d: %s before any FROM", path, start, in.cmd)
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

// makefileBuild returns the recipe of the Makefile's build target with its
// variables expanded from their defaults ("VAR ?= value").
func makefileBuild(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	var recipe []string
	inBuild := false
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\n")
		if name, value, ok := strings.Cut(line, "?="); ok && !strings.HasPrefix(line, "\t") {
			vars[strings.TrimSpace(name)] = strings.TrimSpace(value)
			continue
		}
		switch {
		case strings.HasPrefix(line, "build:"):
			inBuild = true
		case inBuild && strings.HasPrefix(line, "\t"):
			recipe = append(recipe, strings.TrimSpace(line))
		default:
			inBuild = false
		}
	}
	if len(recipe) != 1 {
		t.Fatalf("Makefile: want a build target of one command, got %q", recipe)
	}
	expanded := regexp.MustCompile(`\$\((\w+)\)`).ReplaceAllStringFunc(recipe[0], func(ref string) string {
		name := ref[2 : len(ref)-1]
		v, ok := vars[name]
		if !ok {
			t.Fatalf("Makefile: build uses $(%s), which has no default", name)
		}
		return v
	})
	return strings.Join(strings.Fields(expanded), " ")
}

// TestDockerfileBuildsLikeTheMakefile keeps the image and `make build` from
// drifting apart: the build stage runs `make build` itself or its exact
// expansion, and the runtime stage takes the binaries from where that puts
// them.
func TestDockerfileBuildsLikeTheMakefile(t *testing.T) {
	makeBuild := makefileBuild(t)
	if want := "CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/ ./cmd/..."; makeBuild != want {
		// Not a rule, a tripwire: if the Makefile changes, look at the
		// Dockerfile and the compose smoke test too, then update this.
		t.Errorf("Makefile build is %q; this test expects %q", makeBuild, want)
	}

	stages := readDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	if len(stages) != 2 {
		t.Fatalf("want two stages (build, runtime), got %d", len(stages))
	}
	build, runtime := stages[0], stages[1]
	if !strings.HasPrefix(build.from, "golang:1.26") || build.name == "" {
		t.Errorf("build stage FROM %q AS %q: want golang:1.26..., named", build.from, build.name)
	}

	workdir := "/"
	var builds []instruction
	for _, in := range build.body {
		switch {
		case in.cmd == "WORKDIR":
			workdir = in.args
		case in.cmd == "RUN" && strings.Contains(in.args, "build"):
			builds = append(builds, in)
		case in.cmd == "ENV" || in.cmd == "ARG":
			// The Makefile's command would not mean the same with another
			// GOFLAGS, CGO_ENABLED or GOOS in force.
			t.Errorf("Dockerfile:%d: %s %s in the build stage changes what the Makefile's command does", in.line, in.cmd, in.args)
		}
	}
	if len(builds) != 1 {
		t.Fatalf("want one RUN that builds, got %d", len(builds))
	}
	if got := builds[0].args; got != "make build" && got != makeBuild {
		t.Errorf("Dockerfile:%d: RUN %s\nwant `RUN make build` or `RUN %s`", builds[0].line, got, makeBuild)
	}

	binDir := strings.TrimSuffix(workdir, "/") + "/bin/"
	var copiesBinaries, copiesConfigs bool
	user := ""
	var exposed []string
	for _, in := range runtime.body {
		switch in.cmd {
		case "COPY":
			fields := strings.Fields(in.args)
			switch {
			case slices.Contains(fields, "--from="+build.name) && slices.Contains(fields, binDir):
				copiesBinaries = true
			case len(fields) == 2 && strings.TrimSuffix(fields[0], "/") == "configs":
				copiesConfigs = true
			}
		case "USER":
			user = in.args
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case "ENV", "ARG":
			if regexp.MustCompile(`(?i)secret|password|token|key`).MatchString(in.args) {
				t.Errorf("Dockerfile:%d: %s %s looks like a baked-in secret", in.line, in.cmd, in.args)
			}
		case "RUN":
			t.Errorf("Dockerfile:%d: the distroless runtime stage has no shell to RUN with", in.line)
		}
	}
	if !copiesBinaries {
		t.Errorf("runtime stage does not COPY --from=%s %s", build.name, binDir)
	}
	if !copiesConfigs {
		t.Error("runtime stage does not COPY configs/ (the demo bootstrap)")
	}
	if name, _, _ := strings.Cut(user, ":"); name == "" || name == "root" || name == "0" {
		t.Errorf("runtime USER %q: want a non-root user", user)
	}
	for _, port := range []string{"9096", "8080"} {
		if !slices.Contains(exposed, port) {
			t.Errorf("runtime stage does not EXPOSE %s", port)
		}
	}
	for _, in := range slices.Concat(build.body, runtime.body) {
		if in.cmd == "COPY" || in.cmd == "ADD" {
			if regexp.MustCompile(`(?i)secret`).MatchString(in.args) {
				t.Errorf("Dockerfile:%d: %s %s copies a secret into the image", in.line, in.cmd, in.args)
			}
		}
	}
}

func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, strings.Trim(line, "/"))
		}
	}
	for _, want := range []string{"bin", "data", ".git", "configs/compose"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}
