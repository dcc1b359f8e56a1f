package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestWatchCopiesAndApproves(t *testing.T) {
	in := "STEP ACTION\n" +
		"demo: to approve the device login, open http://localhost:9096/device?user_code=BCDF-GHJK and confirm the code BCDF-GHJK (sign in as alice)\n" +
		"all 11 steps behaved as stated\n"
	var out bytes.Buffer
	var got []string
	n, err := watch(strings.NewReader(in), &out, func(url, code string) error {
		got = append(got, url+" "+code)
		return nil
	})
	if err != nil || n != 1 || out.String() != in {
		t.Fatalf("watch: %d, %v; copied %q", n, err, out.String())
	}
	if len(got) != 1 || got[0] != "http://localhost:9096/device?user_code=BCDF-GHJK BCDF-GHJK" {
		t.Fatalf("approvals %v", got)
	}
	// A failed approval is reported, and the copy goes on.
	out.Reset()
	n, err = watch(strings.NewReader(in), &out, func(string, string) error { return errors.New("no browser") })
	if n != 0 || err == nil || out.String() != in {
		t.Fatalf("a failed approval: %d, %v", n, err)
	}
}
