// Package browsertest drives a headless Chromium from Go tests (chromedp) and
// checks the pages it shows with axe-core. It is imported by tests only.
//
// What a test needs from outside Go: a Chromium binary (Debian's chromium
// package; CHROME_PATH names another) and axe-core, which scripts/test.sh
// installs from this folder's package-lock.json with npm ci. Either missing
// skips the test on a developer's machine and fails it when the env var CI is
// set, so that CI cannot go green by running no browser test.
package browsertest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Timeout bounds one browser for one test: a start of Chromium on a loaded
// 2-core machine takes a few seconds, and the slowest flow (the device grant,
// whose client polls every few seconds) takes under half a minute, race
// detector included.
const Timeout = 2 * time.Minute

// New starts a headless Chromium for t and returns the context of its first
// tab, which ends after Timeout at the latest. t.Cleanup closes the browser
// and removes its profile directory. Each call starts a browser of its own,
// with its own cookie jar.
func New(t testing.TB) context.Context {
	t.Helper()
	execPath := chromePath()
	if execPath == "" {
		unavailable(t, "no Chromium: set CHROME_PATH, or install Debian's chromium package (apt-get install -y chromium)")
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		// Chromium's sandbox needs user namespaces or a setuid helper; as
		// root in a container it refuses to start without this.
		chromedp.NoSandbox,
		// A container's /dev/shm is often 64 MiB, too small for the
		// renderer; DefaultExecAllocatorOptions sets this already, and it
		// is repeated here because the harness depends on it.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Headless,
		// The machines here reach no network but package registries:
		// no component downloads to wait for or to be refused.
		chromedp.Flag("disable-component-update", true),
	)
	// The browser lives as long as the context of its first run, so the
	// deadline goes on the root: nothing outlives it, not even a hung start.
	base, cancelBase := context.WithTimeout(context.Background(), Timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit and its profile to go
		cancelBase()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", execPath, err)
	}
	return ctx
}

// chromePath is CHROME_PATH when set, else the first of Debian's and other
// distributions' names on PATH, else "".
func chromePath() string {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// unavailable ends a test whose browser tooling is missing: a skip on a
// developer's machine, a failure in CI.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: the browser tests must run)", why)
	}
	t.Skip(why)
}

// ErrNoAxe is returned when axe-core is not installed (see the package doc).
var ErrNoAxe = errors.New("axe-core is not installed: run `npm ci --ignore-scripts` in internal/browsertest, or scripts/test.sh")
