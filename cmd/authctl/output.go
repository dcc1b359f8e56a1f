package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/example/authsvc/store"
)

// outputFlag adds -o/--output to a list or show command.
func outputFlag(cmd *cobra.Command) *string {
	return cmd.Flags().StringP("output", "o", "table", "output format: table or json")
}

// checkOutput refuses an unknown -o value before the store is touched.
func checkOutput(format string) error {
	if format != "table" && format != "json" {
		return usagef("-o %q: want table or json", format)
	}
	return nil
}

// userView and clientView are what authctl shows of a user or a client:
// never a password hash or a secret hash.
type userView struct {
	Username  string    `json:"username"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

type clientView struct {
	ID         string   `json:"id"`
	Public     bool     `json:"public"`
	Grants     []string `json:"grants"`
	Scopes     []string `json:"scopes"`
	Introspect bool     `json:"introspect"`
	// RedirectURIs and FirstParty are the client's browser login.
	RedirectURIs []string `json:"redirect_uris"`
	FirstParty   bool     `json:"first_party"`
	// The client's token settings.
	AccessTokenFormat string    `json:"access_token_format"`
	RequireDPoP       bool      `json:"require_dpop"`
	Resources         []string  `json:"resources"`
	CreatedAt         time.Time `json:"created_at"`
}

func viewUser(u store.User) userView {
	return userView{Username: u.Username, Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

func viewClient(c store.Client) clientView {
	v := clientView{ID: c.ID, Public: c.Public(), Grants: c.GrantTypes, Scopes: c.Scopes, Introspect: c.Introspect,
		RedirectURIs: c.RedirectURIs, FirstParty: c.FirstParty, CreatedAt: c.CreatedAt.UTC(),
		AccessTokenFormat: c.AccessTokenFormat, RequireDPoP: c.RequireDPoP, Resources: c.Resources}
	if v.AccessTokenFormat == "" {
		v.AccessTokenFormat = store.AccessTokenOpaque
	}
	if v.Resources == nil {
		v.Resources = []string{}
	}
	// JSON readers get [] rather than null.
	if v.Grants == nil {
		v.Grants = []string{}
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	if v.RedirectURIs == nil {
		v.RedirectURIs = []string{}
	}
	return v
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under a header, aligned; every cell is one
// whitespace-free field for scripts.
func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// fields writes "key: value" lines, for show.
func fields(w io.Writer, kv ...string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], kv[i+1])
	}
	return tw.Flush()
}

// orDash shows an empty list column as "-", so that every column of a
// listing is one whitespace-free field for scripts.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
