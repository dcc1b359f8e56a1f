package admin

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"

	"github.com/example/authsvc/store"
)

// maxBootstrapBytes bounds the bootstrap file: it lists a handful of users
// and clients, and an unbounded read of a wrong file would only hurt.
const maxBootstrapBytes = 1 << 20

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
// secret, see store.HashClientSecret); a public client sets neither and says
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
	// Browser login.
	RedirectURIs []string `yaml:"redirect_uris"`
	FirstParty   bool     `yaml:"first_party"`
	// Self-contained and bound tokens.
	AccessTokenFormat string   `yaml:"access_token_format"`
	RequireDPoP       bool     `yaml:"require_dpop"`
	Resources         []string `yaml:"resources"`
}

// Bootstrap creates the users and clients of the YAML document read from r
// that do not exist yet. It is idempotent: an existing user or client is
// left as it is (an administrator may have changed a password since), so it
// is safe to run on every start, from any number of replicas at once. Every
// problem in the document is reported at once, before anything is written.
func (s *Service) Bootstrap(ctx context.Context, r io.Reader) error {
	// Its audit events say where the change came from.
	s = s.WithLogger(s.logger.With("via", "bootstrap"))
	file, err := decodeBootstrap(r)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := file.Validate(); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}

	var usersCreated, clientsCreated int
	for _, u := range file.Users {
		created, err := s.ensureUser(ctx, u)
		if err != nil {
			return fmt.Errorf("bootstrap: user %q: %w", u.Username, err)
		}
		if created {
			usersCreated++
		}
	}
	for _, c := range file.Clients {
		created, err := s.ensureClient(ctx, c)
		if err != nil {
			return fmt.Errorf("bootstrap: client %q: %w", c.ID, err)
		}
		if created {
			clientsCreated++
		}
	}
	s.logger.InfoContext(ctx, "bootstrap done",
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
		if err := store.ValidateUsername(u.Username); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		} else if seenUsers[u.Username] {
			errs = append(errs, fmt.Errorf("%s: listed twice", where))
		}
		seenUsers[u.Username] = true
		switch {
		case u.Password != "" && u.PasswordHash != "":
			errs = append(errs, fmt.Errorf("%s: set password or password_hash, not both", where))
		case u.Password != "":
			if err := store.ValidatePassword(u.Password); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		case u.PasswordHash != "":
			if err := store.ValidatePasswordHash([]byte(u.PasswordHash)); err != nil {
				errs = append(errs, fmt.Errorf("%s: password_hash is not a bcrypt hash", where))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: password or password_hash is required", where))
		}
	}

	seenClients := map[string]bool{}
	for i, c := range f.Clients {
		where := fmt.Sprintf("clients[%d] %q", i, c.ID)
		if seenClients[c.ID] {
			errs = append(errs, fmt.Errorf("%s: listed twice", where))
		}
		seenClients[c.ID] = true
		nc, err := c.newClient()
		if err == nil {
			err = nc.Validate()
		}
		for _, e := range problems(err) {
			errs = append(errs, fmt.Errorf("%s: %w", where, e))
		}
	}
	return errors.Join(errs...)
}

// problems flattens joined errors, so that each gets its own line and the
// entry it belongs to.
func problems(err error) []error {
	if err == nil {
		return nil
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		return []error{err}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, problems(e)...)
	}
	return out
}

// newClient is the admin request the entry stands for.
func (c bootstrapClient) newClient() (NewClient, error) {
	nc := NewClient{ID: c.ID, Public: c.Public, Secret: c.Secret, Grants: c.Grants, Scopes: c.Scopes, Introspect: c.Introspect,
		RedirectURIs: c.RedirectURIs, FirstParty: c.FirstParty,
		AccessTokenFormat: c.AccessTokenFormat, RequireDPoP: c.RequireDPoP, Resources: c.Resources}
	switch {
	case c.SecretHash != "":
		h, err := store.ParseClientSecretHash(c.SecretHash)
		if err != nil {
			return NewClient{}, err
		}
		nc.SecretHash = h
	case c.Secret == "" && !c.Public:
		// A forgotten secret must not silently make a client public, nor
		// earn it a generated secret nobody will ever see.
		return NewClient{}, errors.New("set secret or secret_hash, or public: true for a client without one")
	}
	return nc, nil
}

func (s *Service) ensureUser(ctx context.Context, u bootstrapUser) (created bool, err error) {
	// Look first so that an existing user costs no bcrypt hashing.
	if _, err := s.User(ctx, u.Username); err == nil {
		s.logger.InfoContext(ctx, "bootstrap: user exists, left unchanged", "username", u.Username)
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if u.Password != "" {
		err = s.CreateUser(ctx, u.Username, u.Password)
	} else {
		err = s.ImportUser(ctx, u.Username, []byte(u.PasswordHash))
	}
	if errors.Is(err, store.ErrAlreadyExists) {
		if _, uerr := s.User(ctx, u.Username); uerr == nil {
			// Another replica bootstrapping at the same moment won the race.
			s.logger.InfoContext(ctx, "bootstrap: user exists, left unchanged", "username", u.Username)
			return false, nil
		}
		return false, err // a client holds the name
	}
	return err == nil, err
}

func (s *Service) ensureClient(ctx context.Context, c bootstrapClient) (created bool, err error) {
	nc, err := c.newClient()
	if err != nil {
		return false, err // Validate has refused it already
	}
	if _, err := s.Client(ctx, c.ID); err == nil {
		s.logger.InfoContext(ctx, "bootstrap: client exists, left unchanged", "client_id", c.ID)
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if nc.ShortSecret() {
		s.logger.WarnContext(ctx, "bootstrap: client secret is short; use a generated one outside demos",
			"client_id", c.ID, "min_length", store.MinClientSecretLength)
	}
	_, err = s.CreateClient(ctx, nc)
	if errors.Is(err, store.ErrAlreadyExists) {
		if _, cerr := s.Client(ctx, c.ID); cerr == nil {
			s.logger.InfoContext(ctx, "bootstrap: client exists, left unchanged", "client_id", c.ID)
			return false, nil
		}
		return false, err // a user holds the name
	}
	return err == nil, err
}
