package main

import (
	"strings"
	"testing"
)

func TestReadLine(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"pw\n", "pw", false},
		{"pw\r\n", "pw", false},
		{"pw", "pw", false},
		{" spaced pw \n", " spaced pw ", false},
		{"first\nsecond\n", "first", false},
		{"", "", false},
		{"\n", "", false},
		{strings.Repeat("x", maxLineBytes) + "\n", strings.Repeat("x", maxLineBytes), false},
		{strings.Repeat("x", maxLineBytes+1), "", true},
	}
	for _, tc := range tests {
		got, err := readLine(strings.NewReader(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("readLine(%.20q) = %.20q, %v; want %.20q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
