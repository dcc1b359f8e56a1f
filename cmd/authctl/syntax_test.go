package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The spellings of the flag-package authctl keep working on cobra.
func TestNormalizeArgs(t *testing.T) {
	root := (&cli{getenv: func(string) string { return "" }}).rootCommand()
	tests := []struct{ in, want []string }{
		{[]string{"-db", "x", "client", "add", "web", "-grants", "password", "-scopes=a b", "-public"},
			[]string{"--db", "x", "client", "add", "web", "--grants", "password", "--scopes=a b", "--public"}},
		{[]string{"user", "list", "-o", "json", "-h"}, []string{"user", "list", "-o", "json", "-h"}},
		{[]string{"-verbose", "user", "add", "--", "-db"}, []string{"-verbose", "user", "add", "--", "-db"}},
		{[]string{"--grants", "x", "-ojson"}, []string{"--grants", "x", "-ojson"}},
	}
	for _, tc := range tests {
		if got := normalizeArgs(root, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("normalizeArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDBFlagWinsOverEnvironment(t *testing.T) {
	e := newTestEnv(t)
	other := filepath.Join(t.TempDir(), "other.db")
	e.mustRun(t, "pw-12345\n", "-db", "sqlite:"+other, "user", "add", "alice")
	if users := e.mustRun(t, "", "user", "list").stdout; strings.Contains(users, "alice") {
		t.Errorf("alice landed in AUTH_DB, not in -db:\n%s", users)
	}
	if users := e.mustRun(t, "", "-db", "sqlite:"+other, "user", "list").stdout; !strings.Contains(users, "alice") {
		t.Errorf("alice is not in -db:\n%s", users)
	}
}

func TestDoubleDashEndsFlags(t *testing.T) {
	e := newTestEnv(t)
	// A username that looks like a flag.
	e.mustRun(t, "pw-12345\n", "user", "add", "--", "-dash")
	if users := e.mustRun(t, "", "user", "list").stdout; !strings.Contains(users, "-dash") {
		t.Errorf("user list:\n%s", users)
	}
}
