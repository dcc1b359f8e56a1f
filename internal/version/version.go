// Package version is the build's version, set by `make build` with
//
//	-ldflags "-X github.com/example/authsvc/internal/version.version=$(git describe --tags --always --dirty)"
//
// and otherwise taken from the module's build info (the VCS revision go
// build stamps), so that a plain `go build` still says what it is.
package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and revision are set by the linker; empty means unknown.
var version, revision string

// Info is what a binary knows about its build.
type Info struct {
	Version, Revision, GoVersion string
}

// Get returns the build's version, from the linker flags or the build info.
func Get() Info {
	info := Info{Version: version, Revision: revision, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Revision == "" {
					info.Revision = s.Value
				}
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && revision == "" && info.Revision != "" {
			info.Revision += "-dirty"
		}
	}
	if info.Version == "" {
		info.Version = "devel"
		if info.Revision != "" {
			info.Version = "devel-" + short(info.Revision)
		}
	}
	if info.Revision == "" {
		info.Revision = "unknown"
	}
	return info
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// String is the one line --version prints.
func (i Info) String() string {
	return fmt.Sprintf("%s (revision %s, %s)", i.Version, i.Revision, i.GoVersion)
}

// Requested reports whether args (without the program name) ask for the
// version: a first argument of --version or -version. It prints the
// version line for name to stdout when they do.
func Requested(name string, args []string, stdout io.Writer) bool {
	if len(args) == 0 || (args[0] != "--version" && args[0] != "-version") {
		return false
	}
	fmt.Fprintf(stdout, "%s %s\n", name, Get())
	return true
}
