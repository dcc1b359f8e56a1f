package resource

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/example/authsvc/store"
)

// Page sizes of GET /items.
const (
	defaultPageLimit = 50
	maxPageLimit     = 100
)

// A cursor is the base64url (no padding) of cursorLen bytes: a version
// byte, the position's created_at in big-endian unix microseconds, and its
// id as the 16 bytes of the UUID. It is not signed: it names a position in
// the caller's own list, which the store scopes by owner, so a forged or
// another owner's cursor can show nothing a first page would not. What it
// must not do is reach the store malformed, so decoding accepts exactly
// the bytes encodeCursor writes and nothing else.
const (
	cursorVersion    = 1
	cursorLen        = 1 + 8 + 16
	cursorEncodedLen = (cursorLen*8 + 5) / 6
)

var cursorEncoding = base64.RawURLEncoding.Strict()

// encodeCursor writes the position of it. Every id this service creates is
// a UUID; anything else is data it did not write, a server error.
func encodeCursor(c store.ItemCursor) (string, error) {
	id, err := uuid.Parse(c.ID)
	if err != nil || len(c.ID) != 36 {
		return "", fmt.Errorf("item id %q is not a UUID", c.ID)
	}
	b := make([]byte, 0, cursorLen)
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(c.CreatedAt.UnixMicro()))
	b = append(b, id[:]...)
	return cursorEncoding.EncodeToString(b), nil
}

// errBadCursor is the answer for every cursor that is not one this service
// would issue; it says no more, so a cursor cannot be probed.
func errBadCursor() *apiError {
	return errBadRequest("cursor is not one this service issued; start again without it")
}

// decodeCursor reads a cursor from encodeCursor, refusing anything else.
func decodeCursor(s string) (store.ItemCursor, error) {
	if len(s) != cursorEncodedLen {
		return store.ItemCursor{}, errBadCursor()
	}
	b, err := cursorEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen || b[0] != cursorVersion {
		return store.ItemCursor{}, errBadCursor()
	}
	micros := int64(binary.BigEndian.Uint64(b[1:9]))
	id, err := uuid.FromBytes(b[9:])
	if micros <= 0 || err != nil || id.Variant() != uuid.RFC4122 {
		return store.ItemCursor{}, errBadCursor()
	}
	return store.ItemCursor{CreatedAt: time.UnixMicro(micros).UTC(), ID: id.String()}, nil
}

// listParams reads ?limit=N&cursor=C. Each may appear once; a limit is 1
// to maxPageLimit in plain decimal digits, never clamped: a client asking
// for 1000 learns it gets at most 100 rather than silently fewer pages than
// it counted on. Other parameters are ignored.
func listParams(rawQuery string) (limit int, after *store.ItemCursor, err error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return 0, nil, errBadRequest("the query string is malformed")
	}
	limit = defaultPageLimit
	if vs, ok := q["limit"]; ok {
		if len(vs) != 1 {
			return 0, nil, errBadRequest("limit may be given once")
		}
		if limit, err = parseLimit(vs[0]); err != nil {
			return 0, nil, err
		}
	}
	if vs, ok := q["cursor"]; ok {
		if len(vs) != 1 {
			return 0, nil, errBadRequest("cursor may be given once")
		}
		c, err := decodeCursor(vs[0])
		if err != nil {
			return 0, nil, err
		}
		after = &c
	}
	return limit, after, nil
}

func errBadLimit() *apiError {
	return errBadRequest(fmt.Sprintf("limit must be a whole number from 1 to %d", maxPageLimit))
}

func parseLimit(s string) (int, error) {
	if s == "" || len(s) > 3 {
		return 0, errBadLimit()
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadLimit()
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < 1 || n > maxPageLimit {
		return 0, errBadLimit()
	}
	return n, nil
}

// itemPage is the body of GET /items. Items is never null; NextCursor is
// there only when more items follow.
type itemPage struct {
	Items      []itemJSON `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// newItemPage answers a page asked for with limit from items, the store's
// answer to limit+1: the extra item only tells that more follow.
func newItemPage(items []store.Item, limit int) (itemPage, error) {
	page := itemPage{Items: make([]itemJSON, 0, min(len(items), limit))}
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	for _, it := range items {
		page.Items = append(page.Items, toJSON(it))
	}
	if more {
		next, err := encodeCursor(items[len(items)-1].Cursor())
		if err != nil {
			return itemPage{}, fmt.Errorf("next cursor: %w", err)
		}
		page.NextCursor = next
	}
	return page, nil
}
