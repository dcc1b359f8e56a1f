package resource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/example/authsvc/store"
)

// itemJSON is the wire form of an item; the owner stays internal.
type itemJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"` // RFC 3339, UTC, whole seconds
}

func toJSON(it store.Item) itemJSON {
	return itemJSON{ID: it.ID, Name: it.Name, CreatedAt: it.CreatedAt.UTC().Format(time.RFC3339)}
}

// handleListItems answers one page of the caller's items, newest first.
func (s *server) handleListItems(c *gin.Context) error {
	limit, after, err := listParams(c.Request.URL.RawQuery)
	if err != nil {
		return err
	}
	// One more than the page: whether it comes back says whether a next
	// page exists, without a count.
	items, err := s.items.ListItems(c.Request.Context(), caller(c).Owner(), after, limit+1)
	if err != nil {
		return fmt.Errorf("list items: %w", err)
	}
	page, err := newItemPage(items, limit)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, page)
	return nil
}

func (s *server) handleCreateItem(c *gin.Context) error {
	name, err := decodeCreateItem(c.Request)
	if err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("new item id: %w", err)
	}
	it := store.Item{ID: id.String(), Owner: caller(c).Owner(), Name: name, CreatedAt: s.now().UTC()}
	err = s.items.CreateItem(c.Request.Context(), it, s.maxItemsPerOwner)
	if errors.Is(err, store.ErrQuotaExceeded) {
		return &apiError{status: http.StatusConflict, code: codeQuotaExceeded,
			description: fmt.Sprintf("you have %d items, the most allowed; delete some to create more", s.maxItemsPerOwner)}
	}
	if err != nil {
		return fmt.Errorf("create item: %w", err)
	}
	c.Header("Location", "/items/"+it.ID)
	c.JSON(http.StatusCreated, toJSON(it))
	return nil
}

func (s *server) handleGetItem(c *gin.Context) error {
	id, err := itemID(c)
	if err != nil {
		return err
	}
	it, err := s.items.GetItem(c.Request.Context(), caller(c).Owner(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errNoSuchItem()
	}
	if err != nil {
		return fmt.Errorf("get item: %w", err)
	}
	c.JSON(http.StatusOK, toJSON(it))
	return nil
}

func (s *server) handleDeleteItem(c *gin.Context) error {
	id, err := itemID(c)
	if err != nil {
		return err
	}
	err = s.items.DeleteItem(c.Request.Context(), caller(c).Owner(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errNoSuchItem()
	}
	if err != nil {
		return fmt.Errorf("delete item: %w", err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

// errNoSuchItem is the answer for a missing item and for another owner's
// item alike, so ids of others cannot be probed.
func errNoSuchItem() *apiError { return errNotFound("no such item") }

// itemID returns the path id. Ids are UUIDs in canonical form; anything
// else cannot exist, so it is a 404 like any missing item.
func itemID(c *gin.Context) (string, error) {
	id := c.Param("id")
	if len(id) != 36 {
		return "", errNoSuchItem()
	}
	if _, err := uuid.Parse(id); err != nil {
		return "", errNoSuchItem()
	}
	return strings.ToLower(id), nil
}

// decodeCreateItem reads {"name": "..."} and validates the name with
// store.ValidateItemName. The body must be exactly one JSON object, in
// valid UTF-8, whose only member is "name", once (matched exactly:
// encoding/json alone would also take "NAME", let a repeated key win, and
// turn invalid UTF-8 into U+FFFD).
func decodeCreateItem(r *http.Request) (string, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mediaType, _, err := mime.ParseMediaType(ct)
		if err != nil || (mediaType != "application/json" && !strings.HasSuffix(mediaType, "+json")) {
			return "", &apiError{status: http.StatusUnsupportedMediaType, code: codeUnsupportedMedia,
				description: "the body must be JSON (Content-Type: application/json)"}
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if tooLarge(err) {
			return "", errTooLarge()
		}
		return "", errBadRequest("the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return "", errBadRequest(`the body is empty; send {"name": "..."}`)
	}
	// RFC 8259 §8.1: JSON text exchanged between systems is UTF-8. Checked
	// on the raw bytes, since the decoder would replace what is broken.
	if !utf8.Valid(body) {
		return "", errBadRequest("the body is not valid UTF-8")
	}
	name, err := decodeNameObject(body)
	if err != nil {
		return "", err
	}
	if err := store.ValidateItemName(name); err != nil {
		return "", errBadRequest(err.Error())
	}
	return name, nil
}

// decodeNameObject reads the object member by member, so that a second
// "name" is seen rather than silently winning (RFC 8259 §4: names SHOULD be
// unique; receivers disagree on which one counts).
func decodeNameObject(body []byte) (string, error) {
	errNotObject := errBadRequest(`the body must be a JSON object like {"name": "..."}`)
	errSyntax := errBadRequest("the body is not valid JSON")
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return "", errSyntax
	}
	if tok != json.Delim('{') {
		return "", errNotObject
	}
	var (
		name string
		seen bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", errSyntax
		}
		key, _ := tok.(string) // inside an object, a valid token here is a string
		if key != "name" {
			return "", errBadRequest(fmt.Sprintf("unknown field %q; only \"name\" is accepted", truncate(key, 40)))
		}
		if seen {
			return "", errBadRequest(`"name" is given more than once`)
		}
		seen = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", errSyntax
		}
		if string(raw) == "null" {
			return "", errBadRequest("name is required")
		}
		if err := json.Unmarshal(raw, &name); err != nil {
			return "", errBadRequest("name must be a string")
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return "", errSyntax
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", errBadRequest("the body must hold a single JSON object")
	}
	if !seen {
		return "", errBadRequest("name is required")
	}
	return name, nil
}

// truncate shortens s to at most n runes for an error message.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
