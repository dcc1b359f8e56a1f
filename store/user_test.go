package store

import (
	"strings"
	"testing"
)

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		password string
		wantErr  string // empty: accepted
	}{
		{"12345678", ""},
		{"alice-demo-password", ""},
		{"pässwörd", ""}, // 8 characters, 10 bytes
		{strings.Repeat("x", MaxPasswordBytes), ""},
		{"", "empty password"},
		{"1234567", "password too short: 7 characters, at least 8"},
		{"pässwö", "too short"},
		{strings.Repeat("x", MaxPasswordBytes+1), "longer than 72 bytes"},
		{strings.Repeat("é", 37), "longer than 72 bytes"}, // 37 characters, 74 bytes
		{"line\nbreak-password", "line break"},
	}
	for _, tc := range tests {
		err := ValidatePassword(tc.password)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ValidatePassword(%q) = %v, want nil", tc.password, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ValidatePassword(%q) = %v, want %q", tc.password, err, tc.wantErr)
		}
	}
}

// A password set before the policy still hashes (a rehash at login).
func TestHashPasswordSkipsPolicy(t *testing.T) {
	if _, err := HashPassword("short", 4); err != nil {
		t.Fatalf("HashPassword of a short legacy password: %v", err)
	}
	if _, err := HashPassword(strings.Repeat("x", MaxPasswordBytes+1), 4); err == nil {
		t.Fatal("HashPassword accepted a password bcrypt would truncate")
	}
}
