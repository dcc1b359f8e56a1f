package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/example/authsvc/cmd/demo/internal/dockerfile"
)

// readDockerfile parses the Dockerfile at path into stages.
func readDockerfile(t *testing.T, path string) []dockerfile.Stage {
	t.Helper()
	stages, err := dockerfile.ReadFile(path)
	if err != nil {
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
	if want := "CGO_ENABLED=0 go build -trimpath -ldflags='-s -w -X github.com/example/authsvc/internal/version.version=$(VERSION)" +
		" -X github.com/example/authsvc/internal/version.revision=$(REVISION)' -o bin/ ./cmd/..."; makeBuild != want {
		// Not a rule, a tripwire: if the Makefile changes, look at the
		// Dockerfile and scripts/compose-test.sh too, then update this.
		t.Errorf("Makefile build is %q; this test expects %q", makeBuild, want)
	}

	stages := readDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	if len(stages) != 2 {
		t.Fatalf("want two stages (build, runtime), got %d", len(stages))
	}
	build, runtime := stages[0], stages[1]
	if !strings.HasPrefix(build.From, "golang:1.26") || build.Name == "" {
		t.Errorf("build stage FROM %q AS %q: want golang:1.26..., named", build.From, build.Name)
	}

	workdir := "/"
	var builds []dockerfile.Instruction
	for _, in := range build.Body {
		switch {
		case in.Cmd == "WORKDIR":
			workdir = in.Args
		case in.Cmd == "RUN" && strings.Contains(in.Args, "build"):
			builds = append(builds, in)
		case in.Cmd == "ENV" || in.Cmd == "ARG":
			// The Makefile's command would not mean the same with another
			// GOFLAGS, CGO_ENABLED or GOOS in force.
			t.Errorf("Dockerfile:%d: %s %s in the build stage changes what the Makefile's command does", in.Line, in.Cmd, in.Args)
		}
	}
	if len(builds) != 1 {
		t.Fatalf("want one RUN that builds, got %d", len(builds))
	}
	if got := builds[0].Args; got != "make build" && got != makeBuild {
		t.Errorf("Dockerfile:%d: RUN %s\nwant `RUN make build` or `RUN %s`", builds[0].Line, got, makeBuild)
	}

	binDir := strings.TrimSuffix(workdir, "/") + "/bin/"
	var copiesBinaries, copiesConfigs bool
	user := ""
	var exposed []string
	for _, in := range runtime.Body {
		switch in.Cmd {
		case "COPY":
			fields := strings.Fields(in.Args)
			switch {
			case slices.Contains(fields, "--from="+build.Name) && slices.Contains(fields, binDir):
				copiesBinaries = true
			case len(fields) == 2 && strings.TrimSuffix(fields[0], "/") == "configs":
				copiesConfigs = true
			}
		case "USER":
			user = in.Args
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.Args)...)
		case "ENV", "ARG":
			if regexp.MustCompile(`(?i)secret|password|token|key`).MatchString(in.Args) {
				t.Errorf("Dockerfile:%d: %s %s looks like a baked-in secret", in.Line, in.Cmd, in.Args)
			}
		case "RUN":
			t.Errorf("Dockerfile:%d: the distroless runtime stage has no shell to RUN with", in.Line)
		}
	}
	if !copiesBinaries {
		t.Errorf("runtime stage does not COPY --from=%s %s", build.Name, binDir)
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
	for _, in := range slices.Concat(build.Body, runtime.Body) {
		if in.Cmd == "COPY" || in.Cmd == "ADD" {
			if regexp.MustCompile(`(?i)secret`).MatchString(in.Args) {
				t.Errorf("Dockerfile:%d: %s %s copies a secret into the image", in.Line, in.Cmd, in.Args)
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
