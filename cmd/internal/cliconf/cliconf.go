// Package cliconf layers a command's settings: command-line flag, then
// environment variable, then an optional YAML config file, then the flag's
// default.
//
// It is written here rather than taken from a flags library because those
// read the process environment directly, while our commands take getenv as a
// parameter so that tests can run them side by side.
package cliconf

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ConfigFlag is the name of the flag (if the FlagSet defines one) that names
// the YAML config file. Its keys are flag names ("access-ttl" or
// "access_ttl"); values are scalars.
const ConfigFlag = "config"

// maxConfigBytes bounds the config file: it is small by nature.
const maxConfigBytes = 1 << 20

// EnvName is the environment variable a flag reads: prefix + the flag name in
// upper case with '-' as '_' ("access-ttl" → "AUTH_ACCESS_TTL").
func EnvName(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then fills every flag not given on the command
// line from the environment variable EnvName(envPrefix, name), then from
// the config file. A variable set to "" counts as unset, so that it falls
// back to the file and the default, except for a flag defined with
// EmptyStringVar, whose empty value means something of its own. It
// reports every bad value at once.
func Parse(fs *flag.FlagSet, args []string, lookupenv LookupEnv, envPrefix string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })

	var errs []error
	fromEnv := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		if onCommandLine[f.Name] {
			return
		}
		name := EnvName(envPrefix, f.Name)
		v, set := lookupenv(name)
		_, emptyIsAValue := f.Value.(*emptyStringValue)
		if v != "" || (set && emptyIsAValue) {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			fromEnv[f.Name] = true
		}
	})

	if cf := fs.Lookup(ConfigFlag); cf != nil && cf.Value.String() != "" {
		values, err := readFile(cf.Value.String())
		if err != nil {
			errs = append(errs, err)
		}
		for key, v := range values {
			name := strings.ReplaceAll(key, "_", "-")
			f := fs.Lookup(name)
			switch {
			case f == nil || name == ConfigFlag:
				errs = append(errs, fmt.Errorf("config %s: unknown setting %q", cf.Value, key))
			case onCommandLine[name] || fromEnv[name]:
				// A flag or the environment already decided.
			default:
				if err := fs.Set(name, v); err != nil {
					errs = append(errs, fmt.Errorf("config %s: %s: %w", cf.Value, key, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func readFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	var raw map[string]any
	dec := yaml.NewDecoder(io.LimitReader(f, maxConfigBytes))
	// An empty file decodes to io.EOF: no settings.
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	values := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case map[string]any, []any:
			return nil, fmt.Errorf("config %s: %s: want a single value", path, k)
		case nil:
			values[k] = ""
		default:
			values[k] = fmt.Sprint(v)
		}
	}
	return values, nil
}
