package resource

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// listPage gets one page as token and decodes it, failing unless it is a 200
// whose items are an array; raw is every member of the body.
func (e *env) listPage(token, query string) (page itemPage, raw map[string]json.RawMessage) {
	e.t.Helper()
	rec := e.do(request{path: "/items" + query, token: token})
	if rec.Code != http.StatusOK {
		e.t.Fatalf("GET /items%s: %d %s", query, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		e.t.Fatal(err)
	}
	if page.Items == nil {
		e.t.Fatalf("GET /items%s: items is not an array: %s", query, rec.Body)
	}
	return page, raw
}

func TestListItemsPages(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.as.set("alice", userToken("alice", "items:read items:write", e.clock.Now().Add(time.Hour)))

	page, raw := e.listPage("alice", "")
	if len(page.Items) != 0 || len(raw) != 1 || string(raw["items"]) != "[]" {
		t.Fatalf("empty list = %v, want exactly {\"items\":[]}", raw)
	}

	var want []itemJSON // newest first
	for i := range 5 {
		want = append([]itemJSON{e.createItem("alice", fmt.Sprintf("item %d", i))}, want...)
		e.clock.Advance(time.Millisecond) // several items share a second of created_at
	}
	if page, raw := e.listPage("alice", ""); len(page.Items) != 5 || raw["next_cursor"] != nil {
		t.Fatalf("default page = %+v, want all 5 and no next_cursor", page)
	}
	if page, raw := e.listPage("alice", "?limit=5"); len(page.Items) != 5 || raw["next_cursor"] != nil {
		t.Fatalf("page of exactly 5 = %+v, want no next_cursor", page)
	}

	// Pages of two, with items created between them: those are newer than
	// the cursor, so the walk returns the first five exactly once each.
	var got []itemJSON
	query := "?limit=2"
	for pages := 1; ; pages++ {
		page, raw := e.listPage("alice", query)
		got = append(got, page.Items...)
		if raw["next_cursor"] == nil {
			if pages != 3 || len(page.Items) != 1 {
				t.Errorf("last page is page %d of %d items, want page 3 of 1", pages, len(page.Items))
			}
			break
		}
		if len(page.Items) != 2 || page.NextCursor == "" || pages > 3 {
			t.Fatalf("page %d = %+v", pages, page)
		}
		e.createItem("alice", fmt.Sprintf("between %d", pages))
		query = "?limit=2&cursor=" + url.QueryEscape(page.NextCursor)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages = %+v\nwant    %+v", got, want)
	}
}

func TestListItemsDefaultAndMaxLimit(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.as.set("alice", userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))
	now := e.clock.Now()
	for i := range maxPageLimit + 1 {
		it := store.Item{ID: fmt.Sprintf("0190a0b1-0000-7000-8000-%012d", i), Owner: "user:alice", Name: "n",
			CreatedAt: now.Add(time.Duration(i) * time.Second)}
		if err := e.store.CreateItem(t.Context(), it, 1000); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		query string
		n     int
	}{{"", defaultPageLimit}, {"?limit=100", 100}, {"?limit=1", 1}, {"?limit=007", 7}} {
		page, _ := e.listPage("alice", tt.query)
		if len(page.Items) != tt.n || page.NextCursor == "" {
			t.Errorf("GET /items%s: %d items, next_cursor %q; want %d and a cursor", tt.query, len(page.Items), page.NextCursor, tt.n)
		}
	}
	page, _ := e.listPage("alice", "?limit=100")
	last, _ := e.listPage("alice", "?cursor="+page.NextCursor)
	if len(last.Items) != 1 || last.Items[0].ID != "0190a0b1-0000-7000-8000-000000000000" || last.NextCursor != "" {
		t.Errorf("page after 100 = %+v, want the oldest item alone", last)
	}
}

// A cursor names a position in the caller's own list: another owner's
// cursor shows the caller's items after that position, never the other's.
func TestListItemsCursorOfAnotherOwner(t *testing.T) {
	e := newEnv(t, envConfig{})
	later := e.clock.Now().Add(time.Hour)
	e.as.set("alice", userToken("alice", "items:read items:write", later))
	e.as.set("bob", userToken("bob", "items:read items:write", later))
	bobs := e.createItem("bob", "bob's")
	e.clock.Advance(time.Second)
	e.createItem("alice", "alice's 1")
	e.createItem("alice", "alice's 2")

	page, _ := e.listPage("alice", "?limit=1")
	if page.NextCursor == "" {
		t.Fatal("no next_cursor for alice")
	}
	got, _ := e.listPage("bob", "?cursor="+page.NextCursor)
	if len(got.Items) != 1 || got.Items[0] != bobs || got.NextCursor != "" {
		t.Errorf("bob with alice's cursor = %+v, want only his own item", got)
	}
}

func TestListItemsBadParameters(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.as.set("alice", userToken("alice", "items:read items:write", e.clock.Now().Add(time.Hour)))
	e.createItem("alice", "one")
	e.clock.Advance(time.Second)
	e.createItem("alice", "two")
	page, _ := e.listPage("alice", "?limit=1")
	good := page.NextCursor
	if got, _ := e.listPage("alice", "?cursor="+good); len(got.Items) != 1 {
		t.Fatalf("the issued cursor does not work: %+v", got)
	}

	forge := func(edit func(b []byte)) string {
		b, err := cursorEncoding.DecodeString(good)
		if err != nil {
			t.Fatal(err)
		}
		edit(b)
		return cursorEncoding.EncodeToString(b)
	}
	for _, tt := range []struct{ name, query string }{
		{"limit 0", "?limit=0"},
		{"limit 101", "?limit=101"},
		{"limit 1000", "?limit=1000"},
		{"negative limit", "?limit=-1"},
		{"signed limit", "?limit=%2B5"},
		{"limit not a number", "?limit=ten"},
		{"fractional limit", "?limit=1.5"},
		{"exponent limit", "?limit=1e1"},
		{"spaced limit", "?limit=%205"},
		{"empty limit", "?limit="},
		{"limit twice", "?limit=5&limit=6"},
		{"huge limit", "?limit=99999999999999999999999"},
		{"empty cursor", "?cursor="},
		{"garbage cursor", "?cursor=not-a-cursor"},
		{"cursor twice", "?cursor=" + good + "&cursor=" + good},
		{"cursor with padding", "?cursor=" + good + "%3D%3D"},
		{"cursor in standard base64", "?cursor=" + strings.NewReplacer("-", "+", "_", "/").Replace(good) + "%2B"},
		{"truncated cursor", "?cursor=" + good[:len(good)-1]},
		{"cursor of another version", "?cursor=" + forge(func(b []byte) { b[0] = 2 })},
		{"cursor before 1970", "?cursor=" + forge(func(b []byte) { b[1] = 0xff })},
		{"cursor id of another variant", "?cursor=" + forge(func(b []byte) { b[9+8] = 0xc0 })},
		{"malformed query", "?limit=%zz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(request{path: "/items" + tt.query, token: "alice"})
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d %s, want 400", rec.Code, rec.Body)
			}
			if code, desc := errorBody(t, rec); code != "invalid_request" || desc == "" {
				t.Errorf("error %q %q", code, desc)
			}
		})
	}
}
