package reqid

import (
	"strings"
	"testing"
)

func TestFromHeader(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kept bool
	}{
		{"abc-DEF_1.2", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"a b", false},
		{"a\nlevel=ERROR", false},
		{"é", false},
		{"a/b", false},
	} {
		got := FromHeader(tc.in)
		if kept := got == tc.in; kept != tc.kept {
			t.Errorf("FromHeader(%q) = %q, kept %v, want %v", tc.in, got, kept, tc.kept)
		}
		if !Valid(got) {
			t.Errorf("FromHeader(%q) = %q, not itself valid", tc.in, got)
		}
	}
	if a, b := New(), New(); a == b {
		t.Errorf("New twice gave %q", a)
	}
}

func TestContext(t *testing.T) {
	if got := From(t.Context()); got != "" {
		t.Errorf("From(empty) = %q", got)
	}
	if got := From(With(t.Context(), "x1")); got != "x1" {
		t.Errorf("From = %q, want x1", got)
	}
}
