package postgres

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/storetest"
)

// TestDeleteClientAcrossReplicas deletes a client on one pool while another
// keeps rotating a grant of it: whichever commits first, nothing of the
// client is left for any replica, and the rotations fail only with the
// contract's ErrClientChanged (no deadlock, no foreign-key error).
func TestDeleteClientAcrossReplicas(t *testing.T) {
	dbs := replicas(t, 2)
	ctx := t.Context()
	createClient(t, dbs[0])
	current := newToken("r0", store.RefreshToken, "family-1", now.Add(time.Hour))
	if err := storetest.Create(ctx, dbs[0], newToken("a0", store.AccessToken, "family-1", now.Add(time.Hour)), current); err != nil {
		t.Fatalf("CreateTokens: %v", err)
	}
	var issued []store.Token
	done, rotating := make(chan error, 1), make(chan struct{})
	go func() {
		for i := 1; ; i++ {
			access := newToken(fmt.Sprintf("a%d", i), store.AccessToken, "family-1", now.Add(2*time.Hour))
			refresh := newToken(fmt.Sprintf("r%d", i), store.RefreshToken, "family-1", now.Add(2*time.Hour))
			err := storetest.Rotate(ctx, dbs[1], "family-1", current.Hash, now, access, refresh)
			if err != nil {
				done <- err
				return
			}
			issued = append(issued, access, refresh)
			current = refresh
			if i == 1 {
				close(rotating)
			}
		}
	}()
	select { // the delete races the rotations that follow the first
	case <-rotating:
	case err := <-done:
		t.Fatalf("first rotation: %v", err)
	}
	if err := dbs[0].DeleteClient(ctx, "web"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if err := <-done; !errors.Is(err, store.ErrClientChanged) {
		t.Fatalf("rotation after the delete: %v, want ErrClientChanged", err)
	}
	t.Logf("%d rotations before the delete", len(issued)/2)

	if _, err := dbs[1].GetClient(ctx, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient on the other replica: %v, want ErrNotFound", err)
	}
	if _, err := dbs[1].GetGrant(ctx, "family-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetGrant on the other replica: %v, want ErrNotFound", err)
	}
	for _, tok := range issued {
		if _, err := dbs[1].GetToken(ctx, tok.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a token of the deleted client is still there: %v", err)
		}
	}
}
