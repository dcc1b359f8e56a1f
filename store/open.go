package store

import (
	"errors"
	"fmt"
)

// ErrSchemaOutdated: a backend opened with RequireCurrentSchema found
// migrations it has not applied.
var ErrSchemaOutdated = errors.New("database schema is out of date")

// Schema names one service's set of migrations: each service migrates only
// its own tables.
type Schema string

// The two schemas.
const (
	AuthSchema  Schema = "auth"  // users, clients, tokens, grants, logins
	ItemsSchema Schema = "items" // the resource service's items
)

// SchemaStatus is where a database stands in a schema's migrations.
type SchemaStatus struct {
	Current int64 // the highest version applied; 0 for an empty database
	Latest  int64 // the highest version this build knows
}

// Pending reports whether migrations remain to be applied.
func (s SchemaStatus) Pending() bool { return s.Current < s.Latest }

// Check returns ErrSchemaOutdated (wrapped, with both versions) if
// migrations remain.
func (s SchemaStatus) Check(schema Schema) error {
	if s.Pending() {
		return fmt.Errorf("%w: %s schema at version %d, this build needs %d", ErrSchemaOutdated, schema, s.Current, s.Latest)
	}
	return nil
}

// OpenConfig is what a backend's open does besides connecting; the
// defaults suit a service starting up.
type OpenConfig struct {
	// Migrate applies pending migrations on open (the default); without
	// it, open fails with ErrSchemaOutdated while any are pending.
	Migrate bool
	// CreateDir lets an embedded backend create the missing directory of
	// its database file (the default). An admin tool turns it off, so
	// that a mistyped path is an error rather than a new empty database.
	CreateDir bool
}

// OpenOption changes an OpenConfig.
type OpenOption func(*OpenConfig)

// RequireCurrentSchema makes open refuse an out-of-date schema instead of
// migrating it.
func RequireCurrentSchema() OpenOption { return func(c *OpenConfig) { c.Migrate = false } }

// ExistingDirOnly makes open refuse a database file whose directory is
// missing.
func ExistingDirOnly() OpenOption { return func(c *OpenConfig) { c.CreateDir = false } }

// NewOpenConfig applies opts to the defaults.
func NewOpenConfig(opts ...OpenOption) OpenConfig {
	c := OpenConfig{Migrate: true, CreateDir: true}
	for _, o := range opts {
		o(&c)
	}
	return c
}
