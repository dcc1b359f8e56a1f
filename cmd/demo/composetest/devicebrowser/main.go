// Command devicebrowser plays the user of the demo's device login in a
// headless Chromium, for `make compose-test`: it copies its standard input
// (the demo's output) to standard output and, for every line in which the
// demo asks for approval, opens the URL, signs in and allows the device.
//
// The password comes from DEVICEBROWSER_PASSWORD (the demo's, public in
// configs/demo-bootstrap.yaml), never from a flag, and is never printed.
// It exits 1 if an approval failed or none was asked for.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// approvalLine is the demo's request (cmd/demo/device.go).
var approvalLine = regexp.MustCompile(`open (https?://\S+/device\?user_code=\S+) and confirm the code ([A-Z]{4}-[A-Z]{4})`)

func main() {
	username := envOr("DEVICEBROWSER_USERNAME", "alice")
	password := os.Getenv("DEVICEBROWSER_PASSWORD")
	if password == "" {
		fmt.Fprintln(os.Stderr, "devicebrowser: DEVICEBROWSER_PASSWORD is not set")
		os.Exit(2)
	}
	approved, err := watch(os.Stdin, os.Stdout, func(url, code string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		return approve(ctx, url, code, username, password)
	})
	if err == nil && approved == 0 {
		err = errors.New("the demo asked for no device approval")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devicebrowser:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "devicebrowser: approved %d device login(s) in Chromium\n", approved)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// watch copies in to out line by line and calls approve for each approval
// line, reporting how many succeeded and the first failure.
func watch(in io.Reader, out io.Writer, approve func(url, code string) error) (int, error) {
	sc := bufio.NewScanner(in)
	approved := 0
	var firstErr error
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(out, line)
		m := approvalLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if err := approve(m[1], m[2]); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("approve %s: %w", m[2], err)
			}
			continue
		}
		approved++
		fmt.Fprintf(os.Stderr, "devicebrowser: approved code %s\n", m[2])
	}
	if err := sc.Err(); err != nil && firstErr == nil {
		firstErr = err
	}
	return approved, firstErr
}

// approve drives the device page, the login page and the approval page
// (authserver/web/pages.html) as a user would.
func approve(ctx context.Context, url, code, username, password string) error {
	bin, err := chromium()
	if err != nil {
		return err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true), chromedp.Headless)
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if _, err := chromedp.Run(bctx, chromedp.Navigate(url)); err != nil {
		return fmt.Errorf("open %s: %w", url, err)
	}
	shown, err := chromedp.Run(bctx, chromedp.Value(chromedp.CSS("#user_code"), chromedp.NodeVisible))
	if err != nil {
		return fmt.Errorf("the device page: %w", err)
	}
	steps := []struct {
		what string
		act  chromedp.Action[chromedp.Void]
	}{
		{"continue", chromedp.Click(chromedp.CSS("#submit"), chromedp.NodeVisible)},
		{"type the username", chromedp.SendKeys(chromedp.CSS("#username"), username, chromedp.NodeVisible)},
		{"type the password", chromedp.SendKeys(chromedp.CSS("#password"), password, chromedp.NodeVisible)},
		{"sign in", chromedp.Click(chromedp.CSS("#submit"), chromedp.NodeVisible)},
		{"allow", chromedp.Click(chromedp.CSS("#allow"), chromedp.NodeVisible)},
	}
	for _, st := range steps {
		if _, err := chromedp.Run(bctx, st.act); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	result, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#result"), chromedp.NodeVisible))
	if err != nil {
		return fmt.Errorf("the result page: %w", err)
	}
	if shown != code {
		return fmt.Errorf("the page showed the code %q", shown)
	}
	if !strings.Contains(result, "approved") {
		return fmt.Errorf("the page said %q", result)
	}
	return nil
}

// chromium finds the browser: CHROME_PATH, else Debian's chromium.
func chromium() (string, error) {
	for _, name := range []string{os.Getenv("CHROME_PATH"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found (apt-get install -y chromium, or set CHROME_PATH)")
}
