package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/resource"
)

// interopDir holds the oauth4webapi client (installed by scripts/test.sh
// with npm ci from its lockfile).
const interopDir = "../../internal/interop"

// interopUnavailable skips locally, and fails under CI, when Node or the
// client library is missing: CI must not pass by running no interop.
func interopUnavailable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: the interop test must run)", why)
	}
	t.Skip(why)
}

// TestOAuth4WebAPIInterop: oauth4webapi 3.8, an unchanged client with DPoP
// built in, gets a DPoP-bound JWT and calls the resource with it in both
// validation modes; the same token without a proof is refused.
func TestOAuth4WebAPIInterop(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		interopUnavailable(t, "node is not installed")
	}
	if _, err := os.Stat(filepath.Join(interopDir, "node_modules", "oauth4webapi")); err != nil {
		interopUnavailable(t, "oauth4webapi is not installed: run npm ci --ignore-scripts in internal/interop, or scripts/test.sh")
	}
	e := newTokenE2E(t)
	for _, mode := range []string{resource.ValidateIntrospect, resource.ValidateJWT} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "dpop.mjs", e.auth.URL, e.items[mode].URL+"/items", "dpop-app", "app-secret")
			cmd.Dir = interopDir
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("oauth4webapi client: %v\n%s", err, stderr.String())
			}
			var got struct {
				Algs            []string `json:"dpop_signing_alg_values_supported"`
				TokenType       string   `json:"token_type"`
				JWT             bool     `json:"jwt"`
				Statuses        []int    `json:"statuses"`
				Stolen          int      `json:"stolen"`
				StolenChallenge string   `json:"stolen_challenge"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("client output %q: %v", stdout.String(), err)
			}
			if len(got.Algs) == 0 || !strings.EqualFold(got.TokenType, "dpop") || !got.JWT ||
				len(got.Statuses) != 2 || got.Statuses[0] != 200 || got.Statuses[1] != 200 {
				t.Fatalf("client saw %+v", got)
			}
			if got.Stolen != 401 || !strings.Contains(got.StolenChallenge, `error="invalid_token"`) {
				t.Fatalf("the token without its proof: %d %q", got.Stolen, got.StolenChallenge)
			}
		})
	}
}
