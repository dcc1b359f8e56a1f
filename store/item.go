package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrQuotaExceeded: the owner already has as many items as it may.
var ErrQuotaExceeded = errors.New("item quota exceeded")

// MaxItemsPage bounds ListItems' limit, whatever a caller asks for.
const MaxItemsPage = 1000

// MaxItemNameRunes is the longest item name, in characters (runes), not
// bytes.
const MaxItemNameRunes = 200

// ItemCursor is a position in an owner's list, newest first: the item
// that ended the previous page. The next page starts with the first item
// that sorts after it, whether or not that item still exists.
type ItemCursor struct {
	CreatedAt time.Time
	ID        string
}

// Cursor is its position: the page that starts after it begins with the
// next older item.
func (it Item) Cursor() ItemCursor {
	return ItemCursor{CreatedAt: it.CreatedAt, ID: it.ID}
}

// ValidateItemName reports why name cannot be an item's name; the error's
// message is written for the client who sent it. A name is stored as sent,
// not trimmed: 1 to MaxItemNameRunes characters of valid UTF-8, not blank,
// and free of characters that change how text around them reads:
//   - control characters (Cc), which forge log lines and break terminals;
//   - format characters (Cf): the bidi overrides and isolates that make a
//     name display reversed (U+202E, U+2066..U+2069, CVE-2021-42574), the
//     invisible zero-width ones (U+200B, U+200E, U+200F, U+2060, U+FEFF)
//     that make two names look alike. Except the zero-width non-joiner and
//     joiner (U+200C, U+200D): Persian and Indic words need the first
//     (می‌خواهم), emoji sequences the second (👩‍💻). Between Latin letters
//     they are invisible too; that is the price of writing those names at
//     all. A name of nothing but joiners and spaces is blank;
//   - line and paragraph separators (U+2028, U+2029), newlines to many
//     renderers and to JavaScript before ES2019;
//   - U+FFFD, which only ever stands for bytes that were lost (invalid
//     UTF-8 or a lone surrogate escape that a JSON decoder replaced).
func ValidateItemName(name string) error {
	if !utf8.ValidString(name) {
		return errors.New("name must be valid UTF-8")
	}
	n := utf8.RuneCountInString(name)
	switch {
	case n == 0:
		return errors.New("name must not be empty")
	case n > MaxItemNameRunes:
		return fmt.Errorf("name is %d characters long; the limit is %d", n, MaxItemNameRunes)
	case strings.TrimFunc(name, func(r rune) bool { return unicode.IsSpace(r) || isJoiner(r) }) == "":
		return errors.New("name must not be blank")
	}
	for _, r := range name {
		switch {
		case unicode.IsControl(r):
			return errors.New("name must not contain control characters")
		case unicode.Is(unicode.Cf, r) && !isJoiner(r):
			return fmt.Errorf("name must not contain format characters such as U+%04X (bidi controls, zero-width characters)", r)
		case r == '\u2028' || r == '\u2029':
			return fmt.Errorf("name must not contain U+%04X (a line or paragraph separator)", r)
		case r == utf8.RuneError:
			return errors.New("name must not contain U+FFFD (the replacement for invalid UTF-8 or a lone surrogate)")
		}
	}
	return nil
}

// isJoiner reports whether r is the zero-width non-joiner or joiner, the
// two format characters a name may hold.
func isJoiner(r rune) bool {
	return r == '\u200c' || r == '\u200d'
}
