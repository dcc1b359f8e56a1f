package resource

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestItemQuota(t *testing.T) {
	e := newEnv(t, envConfig{opts: []Option{WithMaxItemsPerOwner(3)}})
	later := e.clock.Now().Add(time.Hour)
	e.as.set("alice", userToken("alice", "items:read items:write", later))
	e.as.set("bob", userToken("bob", "items:read items:write", later))

	first := e.createItem("alice", "one")
	e.createItem("alice", "two")
	e.createItem("alice", "three")
	rec := e.do(request{method: http.MethodPost, path: "/items", token: "alice", body: `{"name":"four"}`})
	if rec.Code != http.StatusConflict {
		t.Fatalf("create past the quota: %d %s, want 409", rec.Code, rec.Body)
	}
	if code, desc := errorBody(t, rec); code != "quota_exceeded" || desc == "" {
		t.Errorf("error %q %q, want quota_exceeded with a description", code, desc)
	}
	if rec.Header().Get("Location") != "" {
		t.Errorf("a refused create has Location %q", rec.Header().Get("Location"))
	}
	if n := len(e.listItems("alice")); n != 3 {
		t.Errorf("alice has %d items after the refused create, want 3", n)
	}

	// The quota is per owner, and a delete makes room.
	e.createItem("bob", "bob's")
	if rec := e.do(request{method: http.MethodDelete, path: "/items/" + first.ID, token: "alice"}); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	e.createItem("alice", "four")
}

// Concurrent creates through the router store exactly as many items as
// there is room for; the rest get 409 and none a 5xx.
func TestItemQuotaConcurrent(t *testing.T) {
	for _, tt := range []struct {
		quota, existing, wantCreated int
	}{
		{quota: 30, existing: 0, wantCreated: 20},
		{quota: 10, existing: 9, wantCreated: 1},
	} {
		t.Run(fmt.Sprintf("quota %d with %d", tt.quota, tt.existing), func(t *testing.T) {
			e := newEnv(t, envConfig{opts: []Option{WithMaxItemsPerOwner(tt.quota)}})
			e.as.set("alice", userToken("alice", "items:read items:write", e.clock.Now().Add(time.Hour)))
			for i := range tt.existing {
				e.createItem("alice", fmt.Sprintf("existing %d", i))
			}
			const racers = 20
			codes := make([]int, racers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range racers {
				wg.Go(func() {
					<-start
					codes[i] = e.do(request{method: http.MethodPost, path: "/items", token: "alice", body: `{"name":"racer"}`}).Code
				})
			}
			close(start)
			wg.Wait()
			count := map[int]int{}
			for _, code := range codes {
				count[code]++
			}
			if count[http.StatusCreated] != tt.wantCreated || count[http.StatusConflict] != racers-tt.wantCreated {
				t.Errorf("answers %v, want %d × 201 and the rest 409", count, tt.wantCreated)
			}
			if n := len(e.listItems("alice")); n != tt.existing+tt.wantCreated {
				t.Errorf("%d items stored, want %d", n, tt.existing+tt.wantCreated)
			}
		})
	}
}
