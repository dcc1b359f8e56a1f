package authserver

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/example/authsvc/store"
)

// maxBootstrapBytes bounds the bootstrap file: it lists a handful of users
// and clients, and an unbounded read of a wrong file would only hurt.
const maxBootstrapBytes = 1 << 20

// maxNameBytes bounds usernames and client ids.
const maxNameBytes = 255

// MinClientSecretLength is the length under which a client secret chosen by
// an administrator earns a warning: a generated one is 43 characters (256
// bits).
const MinClientSecretLength = 32

// bootstrapFile is the YAML document Bootstrap reads. Unknown keys are
// errors, so a typo ("pasword") fails instead of being ignored.
type bootstrapFile struct {
	Users   []bootstrapUser   `yaml:"users"`
	Clients []bootstrapClient `yaml:"clients"`
}

// bootstrapUser is one resource owner. Exactly one of Password (plaintext,
// for demos) and PasswordHash (bcrypt) is set.
type bootstrapUser struct {
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordHash string `yaml:"password_hash"`
}

// bootstrapClient is one OAuth2 client. A confidential client sets exactly
// one of Secret (plaintext, for demos) and SecretHash (hex SHA-256 of the
// secret, see HashClientSecret); a public client sets neither and says
// Public: true, so that a forgotten secret cannot silently make a client
// public.
type bootstrapClient struct {
	ID         string   `yaml:"id"`
	Secret     string   `yaml:"secret"`
	SecretHash string   `yaml:"secret_hash"`
	Public     bool     `yaml:"public"`
	Grants     []string `yaml:"grants"`
	Scopes     []string `yaml:"scopes"`
	Introspect bool     `yaml:"introspect"`
}

// Bootstrap creates the users and clients of the YAML document read from r
// that do not exist yet. It is idempotent: an existing user or client is
// left as it is (an administrator may have changed a password since), so it
// is safe to run on every start. Every problem in the document is reported
// at once, before anything is written. Passwords are hashed with bcrypt at
// bcryptCost; the caller decides whether a low cost deserves a warning.
func Bootstrap(ctx context.Context, logger *slog.Logger, st store.AuthStore, r io.Reader, bcryptCost int) error {
	if err := ValidateBcryptCost(bcryptCost); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	file, err := decodeBootstrap(r)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := file.Validate(); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}

	var usersCreated, clientsCreated int
	for _, u := range file.Users {
		created, err := ensureUser(ctx, logger, st, u, bcryptCost)
		if err != nil {
			return fmt.Errorf("bootstrap: user %q: %w", u.Username, err)
		}
		if created {
			usersCreated++
		}
	}
	for _, c := range file.Clients {
		created, err := ensureClient(ctx, logger, st, c)
		if err != nil {
			return fmt.Errorf("bootstrap: client %q: %w", c.ID, err)
		}
		if created {
			clientsCreated++
		}
	}
	logger.Info("bootstrap done",
		"users_created", usersCreated, "users_listed", len(file.Users),
		"clients_created", clientsCreated, "clients_listed", len(file.Clients))
	return nil
}

func decodeBootstrap(r io.Reader) (bootstrapFile, error) {
	dec := yaml.NewDecoder(io.LimitReader(r, maxBootstrapBytes))
	dec.KnownFields(true)
	var file bootstrapFile
	if err := dec.Decode(&file); err != nil {
		if errors.Is(err, io.EOF) {
			// An empty document: nothing to create.
			return bootstrapFile{}, nil
		}
		return bootstrapFile{}, fmt.Errorf("parse: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return bootstrapFile{}, errors.New("parse: want one YAML document, found more")
	}
	return file, nil
}

// Validate reports every problem of the document at once.
func (f bootstrapFile) Validate() error {
	var errs []error
	seenUsers := map[string]bool{}
	for i, u := range f.Users {
		where := fmt.Sprintf("users[%d] %q", i, u.Username)
		if err := ValidateUsername(u.Username); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		} else if seenUsers[u.Username] {
			errs = append(errs, fmt.Errorf("%s: listed twice", where))
		}
		seenUsers[u.Username] = true
		switch {
		case u.Password != "" && u.PasswordHash != "":
			errs = append(errs, fmt.Errorf("%s: set password or password_hash, not both", where))
		case u.Password != "":
			if err := ValidatePassword(u.Password); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		case u.PasswordHash != "":
			if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
				errs = append(errs, fmt.Errorf("%s: password_hash is not a bcrypt hash", where))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: password or password_hash is required", where))
		}
	}

	seenClients := map[string]bool{}
	for i, c := range f.Clients {
		where := fmt.Sprintf("clients[%d] %q", i, c.ID)
		if err := ValidateClientID(c.ID); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		} else if seenClients[c.ID] {
			errs = append(errs, fmt.Errorf("%s: listed twice", where))
		}
		seenClients[c.ID] = true
		switch {
		case c.Secret != "" && c.SecretHash != "":
			errs = append(errs, fmt.Errorf("%s: set secret or secret_hash, not both", where))
		case (c.Secret != "" || c.SecretHash != "") && c.Public:
			errs = append(errs, fmt.Errorf("%s: a public client has no secret", where))
		case c.Secret != "":
			if err := ValidateClientSecret(c.Secret); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		case c.SecretHash != "":
			if h, err := hex.DecodeString(c.SecretHash); err != nil || len(h) != len(HashClientSecret("")) {
				errs = append(errs, fmt.Errorf("%s: secret_hash must be the hex SHA-256 of the secret (64 hex digits)", where))
			}
		case !c.Public:
			errs = append(errs, fmt.Errorf("%s: set secret or secret_hash, or public: true for a client without one", where))
		}
		if err := ValidateClientGrants(c.Grants, c.Public); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if d := firstDuplicate(c.Grants); d != "" {
			errs = append(errs, fmt.Errorf("%s: grant %q listed twice", where, d))
		}
		for _, s := range c.Scopes {
			if err := ValidateScopeToken(s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		}
		if d := firstDuplicate(c.Scopes); d != "" {
			errs = append(errs, fmt.Errorf("%s: scope %q listed twice", where, d))
		}
	}
	return errors.Join(errs...)
}

func ensureUser(ctx context.Context, logger *slog.Logger, st store.AuthStore, u bootstrapUser, bcryptCost int) (created bool, err error) {
	// Look first so that an existing user costs no bcrypt hashing.
	if _, err := st.GetUser(ctx, u.Username); err == nil {
		logger.Info("bootstrap: user exists, left unchanged", "username", u.Username)
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("look up: %w", err)
	}
	hash := []byte(u.PasswordHash)
	if u.Password != "" {
		if hash, err = HashPassword(u.Password, bcryptCost); err != nil {
			return false, err
		}
	}
	now := time.Now().UTC()
	err = st.CreateUser(ctx, store.User{Username: u.Username, PasswordHash: hash, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, store.ErrAlreadyExists) {
		// Another replica bootstrapping at the same moment won the race.
		logger.Info("bootstrap: user exists, left unchanged", "username", u.Username)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create: %w", err)
	}
	logger.Info("bootstrap: user created", "username", u.Username)
	return true, nil
}

func ensureClient(ctx context.Context, logger *slog.Logger, st store.AuthStore, c bootstrapClient) (created bool, err error) {
	if _, err := st.GetClient(ctx, c.ID); err == nil {
		logger.Info("bootstrap: client exists, left unchanged", "client_id", c.ID)
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("look up: %w", err)
	}
	var secretHash []byte
	switch {
	case c.Secret != "":
		secretHash = HashClientSecret(c.Secret)
		if len(c.Secret) < MinClientSecretLength {
			logger.Warn("bootstrap: client secret is short; use a generated one outside demos",
				"client_id", c.ID, "min_length", MinClientSecretLength)
		}
	case c.SecretHash != "":
		// Validate has checked the encoding.
		secretHash, _ = hex.DecodeString(c.SecretHash)
	}
	err = st.CreateClient(ctx, store.Client{
		ID:         c.ID,
		SecretHash: secretHash,
		GrantTypes: slices.Clone(c.Grants),
		Scopes:     slices.Clone(c.Scopes),
		Introspect: c.Introspect,
		CreatedAt:  time.Now().UTC(),
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		logger.Info("bootstrap: client exists, left unchanged", "client_id", c.ID)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create: %w", err)
	}
	logger.Info("bootstrap: client created", "client_id", c.ID, "public", c.Public,
		"grants", strings.Join(c.Grants, ","), "scopes", strings.Join(c.Scopes, " "), "introspect", c.Introspect)
	return true, nil
}

func firstDuplicate(values []string) string {
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		if seen[v] {
			return v
		}
		seen[v] = true
	}
	return ""
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

// ValidateUsername checks a username: RFC 6749 Appendix A.11 allows any
// Unicode without CR or LF; we also refuse other control characters and
// surrounding spaces, which only ever come from copy-paste mistakes.
func ValidateUsername(name string) error {
	return validateName("username", name)
}

// ValidateClientID checks a client id against RFC 6749 Appendix A.1
// (printable ASCII), without surrounding spaces.
func ValidateClientID(id string) error {
	if err := validateName("client id", id); err != nil {
		return err
	}
	if !isVSCHAR(id) {
		return errors.New("client id may contain printable ASCII characters only (RFC 6749 Appendix A.1)")
	}
	return nil
}

func validateName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty %s", what)
	case len(name) > maxNameBytes:
		return fmt.Errorf("%s longer than %d bytes", what, maxNameBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%s has leading or trailing spaces", what)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("%s has a control character", what)
	}
	return nil
}

// ValidatePassword checks a new password before hashing: bcrypt ignores
// bytes past 72, and RFC 6749 Appendix A.12 excludes CR and LF.
func ValidatePassword(password string) error {
	switch {
	case password == "":
		return errors.New("empty password")
	case len(password) > 72:
		return errors.New("password longer than 72 bytes")
	case strings.ContainsAny(password, "\r\n"):
		return errors.New("password has a line break")
	}
	return nil
}

// ValidateClientSecret checks a client secret chosen by an administrator
// rather than generated: RFC 6749 Appendix A.2 allows printable ASCII only.
// Shortness is not an error here (demos use short secrets), only worth a
// warning.
func ValidateClientSecret(secret string) error {
	if secret == "" {
		return errors.New("empty client secret")
	}
	if !isVSCHAR(secret) {
		return errors.New("client secret may contain printable ASCII characters only (RFC 6749 Appendix A.2)")
	}
	return nil
}

// isVSCHAR reports whether s is all %x20-7E.
func isVSCHAR(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
