package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

const accessiblePage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<main>
<h1>Sign in</h1>
<form method="post">
<label for="username">Username</label> <input id="username" name="username" autocomplete="username">
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>`

// The same page with the label taken away from the field: axe's "label"
// rule, of critical impact.
const unlabelledPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<main>
<h1>Sign in</h1>
<form method="post">
<input id="nolabel" name="username">
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>`

func TestBrowserHarness(t *testing.T) {
	mux := http.NewServeMux()
	for path, page := range map[string]string{"/ok": accessiblePage, "/unlabelled": unlabelledPage} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, page)
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx := New(t)
	RequireAxe(t)

	t.Run("accessible page passes", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/ok")); err != nil {
			t.Fatal(err)
		}
		// The browser really shows the page: the harness is not passing an
		// empty document.
		h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
		if err != nil || h1 != "Sign in" {
			t.Fatalf("h1 = %q, %v; want Sign in", h1, err)
		}
		vs, err := AxeViolations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 0 {
			t.Fatalf("violations on an accessible page:\n%s", report(vs))
		}
		CheckA11y(t, ctx)
	})

	t.Run("unlabelled field fails", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/unlabelled")); err != nil {
			t.Fatal(err)
		}
		vs, err := AxeViolations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(vs, func(v Violation) bool { return v.ID == "label" })
		if i < 0 {
			t.Fatalf("no label violation reported; got:\n%s", report(vs))
		}
		v := vs[i]
		if !v.blocking() || !slices.Contains(v.Targets, "#nolabel") || v.Help == "" {
			t.Errorf("label violation = %+v; want serious or critical, help text, target #nolabel", v)
		}
		// What CheckA11y would print: id, impact, help and the element.
		msg := report(vs)
		for _, want := range []string{"label (" + v.Impact + ")", v.Help, "at #nolabel"} {
			if !strings.Contains(msg, want) {
				t.Errorf("report lacks %q:\n%s", want, msg)
			}
		}
	})
}

func TestBrowserReportFiltersImpact(t *testing.T) {
	for _, tc := range []struct {
		impact string
		want   bool
	}{
		{"critical", true},
		{"serious", true},
		{"moderate", false},
		{"minor", false},
		{"", false},
	} {
		if got := (Violation{Impact: tc.impact}).blocking(); got != tc.want {
			t.Errorf("blocking(%q) = %v, want %v", tc.impact, got, tc.want)
		}
	}
}
