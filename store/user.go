package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// MaxNameBytes bounds usernames and client ids wherever they enter: the
// token endpoint, introspection, revocation, authctl and bootstrap.
const MaxNameBytes = 255

// MaxPasswordBytes is bcrypt's input limit: it silently ignores every byte
// past it, so a longer password is refused rather than truncated.
const MaxPasswordBytes = 72

// MinBcryptCost is the lowest bcrypt cost accepted without a warning; lower
// costs are for tests only.
const MinBcryptCost = 10

// ValidateUsername checks a username: RFC 6749 Appendix A.11 allows any
// Unicode without CR or LF; we also refuse other control characters and
// surrounding spaces, which only ever come from copy-paste mistakes.
func ValidateUsername(name string) error {
	return validateName("username", name)
}

// validateName is the rule every identifier shares: bounded, valid UTF-8,
// no control characters, no surrounding spaces.
func validateName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty %s", what)
	case len(name) > MaxNameBytes:
		return fmt.Errorf("%s longer than %d bytes", what, MaxNameBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%s has leading or trailing spaces", what)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("%s has a control character", what)
	}
	return nil
}

// MinPasswordLength is the shortest new password accepted, in characters
// (NIST SP 800-63B §3.1.1.2: at least 8 for a password chosen by its user).
const MinPasswordLength = 8

// ValidatePassword is the password policy for every new password (authctl
// user add and passwd, bootstrap): at least MinPasswordLength characters and
// at most MaxPasswordBytes bytes (NIST SP 800-63B §3.1.1.2; bcrypt ignores
// bytes past 72, so a longer one is refused rather than truncated), and no
// line break (RFC 6749 Appendix A.12). Nothing else is required: composition
// rules are what NIST advises against.
func ValidatePassword(password string) error {
	if err := validateHashable(password); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(password); n < MinPasswordLength {
		return fmt.Errorf("password too short: %d characters, at least %d required", n, MinPasswordLength)
	}
	return nil
}

// validateHashable is what bcrypt needs of any password it hashes, new or
// (on a rehash at login) one set before the policy.
func validateHashable(password string) error {
	switch {
	case password == "":
		return errors.New("empty password")
	case len(password) > MaxPasswordBytes:
		return fmt.Errorf("password longer than %d bytes", MaxPasswordBytes)
	case strings.ContainsAny(password, "\r\n"):
		return errors.New("password has a line break")
	}
	return nil
}

// ValidateBcryptCost rejects a cost bcrypt would not honour: below
// bcrypt.MinCost, GenerateFromPassword silently uses bcrypt.DefaultCost
// instead. Costs below MinBcryptCost are valid but for tests only; warning
// about them is the caller's job.
func ValidateBcryptCost(cost int) error {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return fmt.Errorf("bcrypt cost %d out of range %d..%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	return nil
}

// HashPassword hashes password with bcrypt at cost. It checks only what
// bcrypt needs, not the policy: a login rehashes a password set before
// the policy. Callers taking a new password check ValidatePassword first.
func HashPassword(password string, cost int) ([]byte, error) {
	if err := validateHashable(password); err != nil {
		return nil, err
	}
	if err := ValidateBcryptCost(cost); err != nil {
		return nil, err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// ValidatePasswordHash checks that h is a bcrypt hash (for imported users).
func ValidatePasswordHash(h []byte) error {
	if _, err := bcrypt.Cost(h); err != nil {
		return errors.New("not a bcrypt hash")
	}
	return nil
}

// PasswordMatches compares password with the user's stored hash. It costs
// one bcrypt comparison whatever the outcome, disabled users included, so
// the answer's timing tells nothing. A password longer than bcrypt reads
// never matches (bcrypt would ignore its tail, so any suffix would log in),
// yet costs the same comparison.
func (u User) PasswordMatches(password string) bool {
	tooLong := len(password) > MaxPasswordBytes
	if tooLong {
		password = password[:MaxPasswordBytes]
	}
	return bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) == nil && !tooLong
}

// NeedsRehash reports whether the user's hash was made at another cost than
// cost (an older setting, an imported hash): it is redone at the next
// login, so that every check costs the same.
func (u User) NeedsRehash(cost int) bool {
	c, err := bcrypt.Cost(u.PasswordHash)
	return err == nil && c != cost
}
