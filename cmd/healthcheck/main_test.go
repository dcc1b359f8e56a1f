package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/cmd/internal/cliconf"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.WriteHeader(http.StatusOK)
		case "/slow":
			time.Sleep(500 * time.Millisecond)
		case "/moved":
			http.Redirect(w, r, "/readyz", http.StatusFound)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	tests := []struct {
		args    []string
		wantErr string // "" for healthy
	}{
		{[]string{srv.URL + "/readyz"}, ""},
		{[]string{srv.URL + "/down"}, "status 503"},
		{[]string{srv.URL + "/moved"}, "status 302"},
		{[]string{"-timeout", "100ms", srv.URL + "/slow"}, "deadline exceeded"},
		{[]string{"http://127.0.0.1:1/readyz"}, "connect"},
		{[]string{"-timeout", "0s", srv.URL + "/readyz"}, "must be positive"},
		{nil, "usage"},
		{[]string{"a", "b"}, "usage"},
	}
	for _, tt := range tests {
		args := append([]string{"healthcheck"}, tt.args...)
		err := run(t.Context(), args, cliconf.MapEnv(nil), io.Discard, io.Discard)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("run(%q): %v", tt.args, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("run(%q) = %v, want an error with %q", tt.args, err, tt.wantErr)
		}
	}
}
