package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/store"
)

func (c *cli) migrateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Show or apply schema migrations (for services run with AUTH_AUTO_MIGRATE=false)",
	}
	group(cmd)
	schema := cmd.PersistentFlags().String("schema", string(store.AuthSchema),
		"which schema: auth (the authorization server's) or items (the resource service's, on its own database)")
	checkSchema := func() (store.Schema, error) {
		switch s := store.Schema(*schema); s {
		case store.AuthSchema, store.ItemsSchema:
			return s, nil
		}
		return "", usagef("--schema %q: want auth or items", *schema)
	}
	status := &cobra.Command{
		Use: "status", Short: "Print the schema's current and latest version; exit 0 either way", Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := checkSchema()
			if err != nil {
				return err
			}
			st, err := c.migrationStatus(cmd.Context(), s)
			if err != nil {
				return err
			}
			state := "up to date"
			if st.Pending() {
				state = "migrations pending: run authctl migrate up"
			}
			return fields(c.stdout, "schema", string(s), "current", fmt.Sprint(st.Current), "latest", fmt.Sprint(st.Latest), "state", state)
		},
	}
	up := &cobra.Command{
		Use: "up", Short: "Apply every pending migration of the schema", Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := checkSchema()
			if err != nil {
				return err
			}
			if c.server != "" {
				return usagef("migrate up works on the database directly (--db), not through --server: a running server migrates on start unless AUTH_AUTO_MIGRATE=false")
			}
			if s == store.AuthSchema {
				release, err := c.lockForWrite()
				if err != nil {
					return err
				}
				defer release()
			}
			before, err := dbopen.MigrationStatus(cmd.Context(), c.dsn, s, store.ExistingDirOnly())
			if err != nil {
				return err
			}
			after, err := dbopen.Migrate(cmd.Context(), c.dsn, s, store.ExistingDirOnly())
			if err != nil {
				return err
			}
			if before.Current == after.Current {
				fmt.Fprintf(c.stderr, "%s schema already at version %d\n", s, after.Current)
				return nil
			}
			fmt.Fprintf(c.stderr, "%s schema migrated from version %d to %d\n", s, before.Current, after.Current)
			return nil
		},
	}
	cmd.AddCommand(status, up)
	return cmd
}

// migrationStatus asks the server with --server (which knows its own auth
// schema only), or else the database.
func (c *cli) migrationStatus(ctx context.Context, s store.Schema) (store.SchemaStatus, error) {
	if c.server == "" {
		return dbopen.MigrationStatus(ctx, c.dsn, s, store.ExistingDirOnly())
	}
	if s != store.AuthSchema {
		return store.SchemaStatus{}, usagef("--server reports the auth schema only; the items schema is the resource service's: use --db")
	}
	api, err := c.remoteClient()
	if err != nil {
		return store.SchemaStatus{}, err
	}
	st, err := api.MigrationStatus(ctx)
	return store.SchemaStatus{Current: st.Current, Latest: st.Latest}, err
}
