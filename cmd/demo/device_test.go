package main

import (
	"bytes"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// approver plays the user of the device login over HTTP, as a browser
// without script would: it waits for the line the demo prints, opens the
// URL, signs in as alice and allows (or denies).
type approver struct {
	t      *testing.T
	allow  bool
	mu     sync.Mutex
	buf    bytes.Buffer
	seen   chan string
	once   sync.Once
	result chan error
}

var deviceLine = regexp.MustCompile(`open (http\S+/device\?user_code=\S+) and confirm the code ([A-Z]{4}-[A-Z]{4})`)

func (a *approver) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.buf.Write(p)
	if m := deviceLine.FindStringSubmatch(a.buf.String()); m != nil {
		a.once.Do(func() { a.seen <- m[1] })
	}
	return len(p), nil
}

func (a *approver) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.String()
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// submit posts the form formID of page with its hidden fields and extra.
func submit(client *http.Client, base, page, formID string, extra url.Values) (string, error) {
	start := strings.Index(page, `<form id="`+formID+`"`)
	if start < 0 {
		return "", &formMissing{formID}
	}
	end := strings.Index(page[start:], "</form>")
	form := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page[start:start+end], -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	for k, v := range extra {
		form[k] = v
	}
	action := regexp.MustCompile(`action="([^"]+)"`).FindStringSubmatch(page[start : start+end])[1]
	resp, err := client.PostForm(base+action, form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return b.String(), err
}

type formMissing struct{ id string }

func (f *formMissing) Error() string { return "no form " + f.id }

func (a *approver) approve(base string) {
	link := <-a.seen
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := client.Get(link)
	if err != nil {
		a.result <- err
		return
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	resp.Body.Close()
	code := regexp.MustCompile(`id="user_code"[^>]*value="([^"]+)"`).FindStringSubmatch(b.String())
	if code == nil {
		a.result <- &formMissing{"device (prefilled)"}
		return
	}
	page, err := submit(client, base, b.String(), "device", url.Values{"user_code": {code[1]}})
	if err == nil {
		page, err = submit(client, base, page, "login", url.Values{"username": {"alice"}, "password": {demoPassword}})
	}
	decision := "deny"
	if a.allow {
		decision = "allow"
	}
	if err == nil {
		page, err = submit(client, base, page, "consent", url.Values{"decision": {decision}})
	}
	if err == nil && !strings.Contains(page, "Device approved") && !strings.Contains(page, "Device denied") {
		err = &formMissing{"result"}
	}
	a.result <- err
}

func TestDeviceLoginApprovedInABrowser(t *testing.T) {
	s := startServices(t, nil)
	a := &approver{t: t, allow: true, seen: make(chan string, 1), result: make(chan error, 1)}
	go a.approve(s.auth.URL)
	var stdout bytes.Buffer
	err := run(t.Context(), s.args("-device-login"), noEnv, &stdout, a)
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), a.String())
	}
	if err := <-a.result; err != nil {
		t.Fatalf("the approval: %v", err)
	}
	out := stdout.String()
	for _, want := range []string{"login via demo-cli (device grant)", "GET /items (device token)", "all 11 steps behaved as stated"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The device code is the device's secret: only the user code shows.
	assertNoSecrets(t, out+a.String(), s.issued.all())
	if strings.Contains(a.String(), "device_code") {
		t.Error("the device code was printed")
	}
}

func TestDeviceLoginDenied(t *testing.T) {
	s := startServices(t, nil)
	a := &approver{t: t, allow: false, seen: make(chan string, 1), result: make(chan error, 1)}
	go a.approve(s.auth.URL)
	var stdout bytes.Buffer
	err := run(t.Context(), s.args("-device-login"), noEnv, &stdout, a)
	if err == nil || !strings.Contains(stdout.String(), "access_denied") {
		t.Fatalf("a denied device login: err %v\n%s", err, stdout.String())
	}
	if err := <-a.result; err != nil {
		t.Fatalf("the denial: %v", err)
	}
	// The steps before it still pass; the denial and the request after it
	// do not.
	if !strings.Contains(stdout.String(), "2 of 11 steps did not behave as stated") {
		t.Errorf("output:\n%s", stdout.String())
	}
}
