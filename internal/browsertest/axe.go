package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// Violation is one axe-core rule that the page breaks, with the elements
// that break it.
type Violation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"` // minor, moderate, serious or critical
	Help    string   `json:"help"`
	HelpURL string   `json:"helpUrl"`
	Targets []string `json:"targets"` // a CSS selector of each element
}

// blocking reports whether v fails a page: the requirement is "no violations
// of serious or critical impact"; minor and moderate ones are left to review.
func (v Violation) blocking() bool {
	return v.Impact == "serious" || v.Impact == "critical"
}

// CheckA11y runs axe-core on the page of ctx as it is now and fails t,
// listing each violation of serious or critical impact. A missing axe-core
// skips t locally and fails it in CI, as a missing Chromium does.
func CheckA11y(t testing.TB, ctx context.Context) {
	t.Helper()
	RequireAxe(t)
	vs, err := AxeViolations(ctx)
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	if msg := report(vs); msg != "" {
		url, _ := chromedp.Run(ctx, chromedp.Location())
		t.Errorf("axe-core on %s:\n%s", url, msg)
	}
}

// RequireAxe skips t locally and fails it in CI when axe-core is not
// installed. CheckA11y calls it; a test that calls AxeViolations itself
// calls it first.
func RequireAxe(t testing.TB) {
	t.Helper()
	_, err := axeSource()
	if errors.Is(err, ErrNoAxe) {
		unavailable(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
}

// AxeViolations runs axe-core on the page of ctx as it is now and returns
// the violations of serious or critical impact, the ones that CheckA11y
// fails on. It returns ErrNoAxe when axe-core is not installed.
func AxeViolations(ctx context.Context) ([]Violation, error) {
	src, err := axeSource()
	if err != nil {
		return nil, err
	}
	// A navigation drops the script, so it goes in again on each page that
	// does not have it yet.
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		return nil, fmt.Errorf("look for axe-core in the page: %w", err)
	}
	if !loaded {
		// The newline ends a trailing line comment of the script.
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](src+"\n;undefined")); err != nil {
			return nil, fmt.Errorf("inject axe-core: %w", err)
		}
	}
	// The result goes back as a JSON string, shaped here: axe's own objects
	// are large (passes, incomplete, every node's HTML), and a target is an
	// array of selectors only inside iframes and shadow roots.
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
	JSON.stringify(r.violations.map(v => ({
		id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
		targets: v.nodes.map(n => [].concat(n.target).join(" >>> ")),
	}))))`, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("run axe-core: %w", err)
	}
	var all []Violation
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		return nil, fmt.Errorf("decode axe-core result: %w", err)
	}
	var blocking []Violation
	for _, v := range all {
		if v.blocking() {
			blocking = append(blocking, v)
		}
	}
	return blocking, nil
}

// report is the failure message for vs, one line per violation and one per
// element; "" when vs is empty.
func report(vs []Violation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "  %s (%s): %s <%s>\n", v.ID, v.Impact, v.Help, v.HelpURL)
		for _, target := range v.Targets {
			fmt.Fprintf(&b, "    at %s\n", target)
		}
	}
	return b.String()
}

// axePath is where npm ci puts axe-core: node_modules beside this file, found
// through the source path so that it works from any package's test
// directory. AXE_CORE_PATH overrides it.
func axePath() string {
	if p := os.Getenv("AXE_CORE_PATH"); p != "" {
		return p
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	return filepath.Join(filepath.Dir(file), "node_modules", "axe-core", "axe.min.js")
}

var (
	axeOnce sync.Once
	axeJS   string
	axeErr  error
)

// axeSource reads axe-core once per test binary.
func axeSource() (string, error) {
	axeOnce.Do(func() {
		path := axePath()
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			axeErr = fmt.Errorf("%w (no %s)", ErrNoAxe, path)
		case err != nil:
			axeErr = fmt.Errorf("read axe-core: %w", err)
		default:
			axeJS = string(b)
		}
	})
	return axeJS, axeErr
}
