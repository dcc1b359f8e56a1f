package resource

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

func TestItemsLifecycle(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.as.set("alice", userToken("alice", "items:read items:write", e.clock.Now().Add(time.Hour)))

	if got := e.listItems("alice"); len(got) != 0 {
		t.Fatalf("fresh list = %v", got)
	}
	first := e.createItem("alice", "apple")
	e.clock.Advance(time.Second)
	second := e.createItem("alice", "pear")

	if first.Name != "apple" || first.ID == "" {
		t.Fatalf("created %+v", first)
	}
	if _, err := time.Parse(time.RFC3339, first.CreatedAt); err != nil {
		t.Fatalf("created_at %q: %v", first.CreatedAt, err)
	}
	if want := e.clock.Now().Add(-time.Second).Format(time.RFC3339); first.CreatedAt != want {
		t.Errorf("created_at = %s, want %s", first.CreatedAt, want)
	}

	list := e.listItems("alice")
	if len(list) != 2 || list[0] != second || list[1] != first {
		t.Fatalf("list = %+v, want newest first [%+v %+v]", list, second, first)
	}

	rec := e.do(request{path: "/items/" + first.ID, token: "alice"})
	var got itemJSON
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil || got != first {
		t.Fatalf("get: %d %s", rec.Code, rec.Body)
	}
	// Ids are matched case-insensitively, as UUIDs are.
	if rec := e.do(request{path: "/items/" + strings.ToUpper(first.ID), token: "alice"}); rec.Code != http.StatusOK {
		t.Errorf("get upper-case id: %d", rec.Code)
	}

	rec = e.do(request{method: http.MethodDelete, path: "/items/" + first.ID, token: "alice"})
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("delete: %d %q", rec.Code, rec.Body)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		rec := e.do(request{method: method, path: "/items/" + first.ID, token: "alice"})
		if code, _ := errorBody(t, rec); rec.Code != http.StatusNotFound || code != "not_found" {
			t.Errorf("%s deleted item: %d %s", method, rec.Code, rec.Body)
		}
	}
	if list := e.listItems("alice"); len(list) != 1 || list[0] != second {
		t.Fatalf("list after delete = %+v", list)
	}
}

func TestCreateItemResponse(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.as.set("alice", userToken("alice", "items:write", e.clock.Now().Add(time.Hour)))
	rec := e.do(request{method: http.MethodPost, path: "/items", token: "alice", body: `{"name":"apple"}`})
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	var it itemJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &it); err != nil {
		t.Fatal(err)
	}
	if loc := rec.Header().Get("Location"); loc != "/items/"+it.ID {
		t.Errorf("Location = %q, id %q", loc, it.ID)
	}
	var raw map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &raw)
	if len(raw) != 3 {
		t.Errorf("item members = %v, want id, name, created_at only", raw)
	}
}

// The zero-width joiner and non-joiner come back exactly as sent, from
// the create and from a later read.
func TestItemNameWithJoinersRoundTrips(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.as.set("alice", userToken("alice", "items:read items:write", e.clock.Now().Add(time.Hour)))
	for _, name := range []string{"👩\u200d💻", "می\u200cخواهم"} {
		created := e.createItem("alice", name)
		if created.Name != name {
			t.Errorf("created %q, want %q", created.Name, name)
		}
		rec := e.do(request{path: "/items/" + created.ID, token: "alice"})
		var got itemJSON
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil || got.Name != name {
			t.Errorf("read back: %d %s, want the name %q", rec.Code, rec.Body, name)
		}
	}
}

// A client whose id equals a username must never reach that user's items
// (RFC 9700 §4.15), and another owner's item is exactly a missing one.
func TestOwnerIsolation(t *testing.T) {
	e := newEnv(t, envConfig{})
	later := e.clock.Now().Add(time.Hour)
	const rw = "items:read items:write"
	e.as.set("user-alice", userToken("alice", rw, later))
	e.as.set("client-alice", clientToken("alice", rw, later))
	e.as.set("user-bob", userToken("bob", rw, later))
	// A user token issued through a client named like another user.
	bobViaAlice := userToken("bob", rw, later)
	bobViaAlice["client_id"] = "alice"
	e.as.set("bob-via-alice", bobViaAlice)

	aliceItem := e.createItem("user-alice", "alice's")
	clientItem := e.createItem("client-alice", "client's")
	bobItem := e.createItem("user-bob", "bob's")

	for token, want := range map[string][]itemJSON{
		"user-alice":    {aliceItem},
		"client-alice":  {clientItem},
		"user-bob":      {bobItem},
		"bob-via-alice": {bobItem},
	} {
		got := e.listItems(token)
		if len(got) != len(want) || got[0] != want[0] {
			t.Errorf("%s lists %+v, want %+v", token, got, want)
		}
	}

	missing := e.do(request{path: "/items/0190a0b1-0000-7000-8000-000000000000", token: "client-alice"})
	for _, tt := range []struct {
		token, id string
	}{
		{"client-alice", aliceItem.ID},
		{"user-alice", clientItem.ID},
		{"user-bob", aliceItem.ID},
	} {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			rec := e.do(request{method: method, path: "/items/" + tt.id, token: tt.token})
			if rec.Code != http.StatusNotFound || rec.Body.String() != missing.Body.String() {
				t.Errorf("%s %s of another owner: %d %s, want the missing-item answer %s",
					tt.token, method, rec.Code, rec.Body, missing.Body)
			}
		}
	}
	if got := e.listItems("user-alice"); len(got) != 1 || got[0] != aliceItem {
		t.Errorf("alice's item was touched: %+v", got)
	}
}

func TestCreateItemValidation(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.as.set("alice", userToken("alice", "items:read items:write", e.clock.Now().Add(time.Hour)))

	json200 := `{"name":"` + strings.Repeat("é", 200) + `"}`
	tests := []struct {
		name        string
		body        string
		contentType string // "" keeps application/json; "-" sends none
		status      int
		code        string
	}{
		{"200 characters of two bytes", json200, "", 201, ""},
		{"no content type", `{"name":"x"}`, "-", 201, ""},
		{"right-to-left text without controls", `{"name":"שלום مرحبا"}`, "", 201, ""},
		{"emoji and CJK", `{"name":"🍎 りんご"}`, "", 201, ""},
		{"escaped name", `{"na\u006de":"\u00e9t\u00e9"}`, "", 201, ""},
		{"emoji ZWJ sequence", "{\"name\":\"👩\u200d💻\"}", "", 201, ""},
		{"emoji ZWJ sequence escaped", `{"name":"\ud83d\udc69\u200d\ud83d\udcbb"}`, "", 201, ""},
		{"Persian with a ZWNJ", "{\"name\":\"می\u200cخواهم\"}", "", 201, ""},
		{"Persian with a ZWNJ escaped", `{"name":"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"}`, "", 201, ""},
		{"duplicate key", `{"name":"a","name":"b"}`, "", 400, "invalid_request"},
		{"duplicate key, same value", `{"name":"a","name":"a"}`, "", 400, "invalid_request"},
		{"duplicate key through an escape", `{"name":"a","na\u006de":"b"}`, "", 400, "invalid_request"},
		{"duplicate null key", `{"name":"a","name":null}`, "", 400, "invalid_request"},
		{"invalid UTF-8 in the name", "{\"name\":\"a\xffb\"}", "", 400, "invalid_request"},
		{"overlong UTF-8 encoding", "{\"name\":\"a\xc0\xafb\"}", "", 400, "invalid_request"},
		{"UTF-8 surrogate bytes", "{\"name\":\"a\xed\xa0\x80b\"}", "", 400, "invalid_request"},
		{"invalid UTF-8 in a key", "{\"name\":\"a\",\"\xff\":1}", "", 400, "invalid_request"},
		{"lone surrogate escape", `{"name":"a\ud800b"}`, "", 400, "invalid_request"},
		{"replacement character", `{"name":"a\ufffdb"}`, "", 400, "invalid_request"},
		{"right-to-left override", "{\"name\":\"invoice\u202Efdp.exe\"}", "", 400, "invalid_request"},
		{"right-to-left override escaped", `{"name":"invoice\u202efdp.exe"}`, "", 400, "invalid_request"},
		{"left-to-right isolate", `{"name":"a\u2066b"}`, "", 400, "invalid_request"},
		{"pop directional isolate", `{"name":"a\u2069b"}`, "", 400, "invalid_request"},
		{"right-to-left mark", `{"name":"a\u200fb"}`, "", 400, "invalid_request"},
		{"zero-width space", `{"name":"a\u200bb"}`, "", 400, "invalid_request"},
		{"word joiner", `{"name":"a\u2060b"}`, "", 400, "invalid_request"},
		{"nothing but a joiner", `{"name":"\u200d"}`, "", 400, "invalid_request"},
		{"byte order mark", `{"name":"\ufeffa"}`, "", 400, "invalid_request"},
		{"line separator", `{"name":"a\u2028b"}`, "", 400, "invalid_request"},
		{"paragraph separator", "{\"name\":\"a\u2029b\"}", "", 400, "invalid_request"},
		{"C1 control", `{"name":"a\u0085b"}`, "", 400, "invalid_request"},
		{"json with charset", `{"name":"x"}`, "application/json; charset=utf-8", 201, ""},
		{"empty body", "", "", 400, "invalid_request"},
		{"whitespace body", "  \n", "", 400, "invalid_request"},
		{"empty object", `{}`, "", 400, "invalid_request"},
		{"null body", `null`, "", 400, "invalid_request"},
		{"array", `[{"name":"x"}]`, "", 400, "invalid_request"},
		{"string body", `"x"`, "", 400, "invalid_request"},
		{"empty name", `{"name":""}`, "", 400, "invalid_request"},
		{"blank name", `{"name":"   "}`, "", 400, "invalid_request"},
		{"null name", `{"name":null}`, "", 400, "invalid_request"},
		{"number name", `{"name":42}`, "", 400, "invalid_request"},
		{"object name", `{"name":{"a":1}}`, "", 400, "invalid_request"},
		{"201 characters", `{"name":"` + strings.Repeat("a", 201) + `"}`, "", 400, "invalid_request"},
		{"control character", `{"name":"a\u0000b"}`, "", 400, "invalid_request"},
		{"newline", `{"name":"a\nb"}`, "", 400, "invalid_request"},
		{"unknown field", `{"name":"x","owner":"bob"}`, "", 400, "invalid_request"},
		{"differently cased field", `{"NAME":"x"}`, "", 400, "invalid_request"},
		{"bad JSON", `{"name":`, "", 400, "invalid_request"},
		{"not JSON", `name=x`, "", 400, "invalid_request"},
		{"trailing data", `{"name":"x"} {"name":"y"}`, "", 400, "invalid_request"},
		{"trailing garbage", `{"name":"x"}]`, "", 400, "invalid_request"},
		{"text content type", `{"name":"x"}`, "text/plain", 415, "unsupported_media_type"},
		{"bad content type", `{"name":"x"}`, "application/", 415, "unsupported_media_type"},
		{"over 64 KiB", `{"name":"` + strings.Repeat("a", 64<<10) + `"}`, "", 413, "request_too_large"},
		{"over 64 KiB as a form", "a=" + strings.Repeat("a", 64<<10), "application/x-www-form-urlencoded", 413, "request_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := map[string]string{}
			switch tt.contentType {
			case "":
				headers["Content-Type"] = "application/json"
			case "-":
				headers["Content-Type"] = ""
			default:
				headers["Content-Type"] = tt.contentType
			}
			rec := e.do(request{method: http.MethodPost, path: "/items", token: "alice", body: tt.body, headers: headers})
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if tt.code == "" {
				return
			}
			code, description := errorBody(t, rec)
			if code != tt.code || description == "" {
				t.Errorf("error = %q %q, want %q with a description", code, description, tt.code)
			}
			if rec.Header().Get("WWW-Authenticate") != "" {
				t.Errorf("a body error carries a Bearer challenge: %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
	want := 0
	for _, tt := range tests {
		if tt.status == 201 {
			want++
		}
	}
	if n := len(e.listItems("alice")); n != want {
		t.Errorf("%d items stored, want the %d valid ones", n, want)
	}
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.as.set("alice", userToken("alice", "items:read items:write", e.clock.Now().Add(time.Hour)))
	tests := []struct {
		name   string
		req    request
		status int
		code   string
		allow  string
	}{
		{"unknown path", request{path: "/nope"}, 404, "not_found", ""},
		{"trailing slash", request{path: "/items/", token: "alice"}, 404, "not_found", ""},
		{"malformed id", request{path: "/items/not-a-uuid", token: "alice"}, 404, "not_found", ""},
		{"id with extra characters", request{path: "/items/{0190a0b1-0000-7000-8000-000000000000}", token: "alice"}, 404, "not_found", ""},
		{"nested path", request{path: "/items/a/b", token: "alice"}, 404, "not_found", ""},
		{"PUT on the collection", request{method: http.MethodPut, path: "/items", token: "alice"}, 405, "method_not_allowed", "GET, POST"},
		{"POST on an item", request{method: http.MethodPost, path: "/items/x", token: "alice"}, 405, "method_not_allowed", "GET, DELETE"},
		{"POST on healthz", request{method: http.MethodPost, path: "/healthz"}, 405, "method_not_allowed", "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(tt.req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if code, _ := errorBody(t, rec); code != tt.code {
				t.Errorf("error = %q, want %q", code, tt.code)
			}
			if got := rec.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestHealthAndReadiness(t *testing.T) {
	pingErr := errors.New("disk on fire")
	broken := newEnv(t, envConfig{wrap: func(s store.ItemStore) store.ItemStore { return failingStore{ItemStore: s, ping: pingErr} }})
	e := newEnv(t, envConfig{})
	for _, tt := range []struct {
		env    *env
		path   string
		status int
	}{
		{e, "/healthz", 200},
		{e, "/readyz", 200},
		{broken, "/healthz", 200},
		{broken, "/readyz", 503},
	} {
		rec := tt.env.do(request{path: tt.path})
		if rec.Code != tt.status {
			t.Errorf("%s: %d, want %d", tt.path, rec.Code, tt.status)
		}
		if tt.status == 503 {
			if code, desc := errorBody(t, rec); code != "temporarily_unavailable" || strings.Contains(desc, "fire") {
				t.Errorf("readyz error %q %q", code, desc)
			}
			if rec.Header().Get("Retry-After") == "" {
				t.Error("readyz 503 without Retry-After")
			}
		}
	}
	if !strings.Contains(broken.logs.String(), "disk on fire") {
		t.Errorf("the ping error was not logged:\n%s", broken.logs)
	}
}

// A store failure is a 500 whose cause is logged, never shown; a panic is
// the same 500 without a stack in the answer.
func TestServerErrors(t *testing.T) {
	for _, tt := range []struct {
		name  string
		store failingStore
		log   string
	}{
		{"store error", failingStore{list: errors.New("connection reset by database")}, "connection reset by database"},
		{"panic", failingStore{panics: true}, "goroutine"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envConfig{wrap: func(s store.ItemStore) store.ItemStore {
				fs := tt.store
				fs.ItemStore = s
				return fs
			}})
			e.as.set("alice", userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))
			rec := e.do(request{path: "/items", token: "alice"})
			if rec.Code != http.StatusInternalServerError {
				t.Fatalf("status %d %s", rec.Code, rec.Body)
			}
			code, desc := errorBody(t, rec)
			if code != "server_error" || desc != "internal server error" {
				t.Errorf("error %q %q", code, desc)
			}
			if !strings.Contains(e.logs.String(), tt.log) {
				t.Errorf("log lacks %q:\n%s", tt.log, e.logs)
			}
			// The service keeps serving.
			if rec := e.do(request{path: "/healthz"}); rec.Code != http.StatusOK {
				t.Errorf("healthz after failure: %d", rec.Code)
			}
		})
	}
}

// failingStore injects failures into a real store.
type failingStore struct {
	store.ItemStore
	ping   error
	list   error
	panics bool
}

func (f failingStore) Ping(ctx context.Context) error {
	if f.ping != nil {
		return f.ping
	}
	return f.ItemStore.Ping(ctx)
}

func (f failingStore) ListItems(ctx context.Context, owner string, after *store.ItemCursor, limit int) ([]store.Item, error) {
	if f.panics {
		panic("boom")
	}
	if f.list != nil {
		return nil, f.list
	}
	return f.ItemStore.ListItems(ctx, owner, after, limit)
}
