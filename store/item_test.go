package store

import (
	"strings"
	"testing"
)

func TestValidateItemName(t *testing.T) {
	for _, name := range []string{
		"apple", "a", " padded ", "ünïcode", "שלום", "مرحبا", "🍎", "りんご",
		strings.Repeat("é", MaxItemNameRunes),
		// The zero-width joiner and non-joiner, which emoji sequences and
		// Persian and Indic words need.
		"👩\u200d💻",        // woman technologist: an emoji ZWJ sequence
		"🏳\ufe0f\u200d🌈",  // rainbow flag: with a variation selector (Mn, not Cf)
		"می\u200cخواهم",   // Persian "I want", with a ZWNJ
		"क्\u200dष",       // Devanagari half form through a ZWJ
		"a\u200cb\u200dc", // allowed anywhere, not only in those scripts
	} {
		if err := ValidateItemName(name); err != nil {
			t.Errorf("ValidateItemName(%q) = %v, want nil", name, err)
		}
	}
	for _, tt := range []struct{ name, want string }{
		{"", "empty"},
		{" \t ", "blank"},
		{strings.Repeat("a", MaxItemNameRunes+1), "201 characters"},
		{"a\xffb", "UTF-8"},
		{"a\x00b", "control"},
		{"a\u0085b", "control"},
		{"a\u202eb", "U+202E"},
		{"a\u2066b", "U+2066"},
		{"a\u200bb", "U+200B"},
		{"a\u200eb", "U+200E"},
		{"a\u2060b", "U+2060"},
		{"\u200d", "blank"},
		{" \u200c\u200d ", "blank"},
		{"a\u200fb", "U+200F"},
		{"\ufeffa", "U+FEFF"},
		{"a\u00adb", "U+00AD"},
		{"a\u2028b", "U+2028"},
		{"a\u2029b", "U+2029"},
		{"a\ufffdb", "U+FFFD"},
	} {
		err := ValidateItemName(tt.name)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateItemName(%q) = %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
}
