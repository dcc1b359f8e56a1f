package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RESOURCE_AUTO_MIGRATE=false refuses to start on an old schema and names
// the command that fixes it.
func TestRunRefusesOldSchemaWithoutAutoMigrate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env := map[string]string{
		"RESOURCE_DB":            "sqlite:" + filepath.Join(t.TempDir(), "items.db"),
		"RESOURCE_CLIENT_ID":     "r",
		"RESOURCE_CLIENT_SECRET": "x",
		"RESOURCE_AUTO_MIGRATE":  "false",
	}
	err := run(ctx, []string{"resource", "-addr", "127.0.0.1:0"}, mapEnv(env), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `"authctl migrate up --schema items"`) {
		t.Fatalf("run = %v, want a refusal naming authctl migrate up --schema items", err)
	}
}
