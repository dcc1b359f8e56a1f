package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/store"
)

func (c *cli) clientCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "client", Short: "Manage OAuth2 clients"}
	group(cmd)
	named := func(use, short string, fn func(ctx context.Context, svc backend, id string) error) *cobra.Command {
		return &cobra.Command{Use: use + " ID", Short: short, Args: exactArgs("ID"),
			RunE: func(cmd *cobra.Command, args []string) error { return c.withName(cmd, args, writes, fn) }}
	}
	cmd.AddCommand(
		c.clientAdd(),
		c.clientShow(),
		c.clientList(),
		c.clientUpdate(),
		named("rotate-secret", "Give a confidential client a new generated secret, printed alone on stdout; the old one stops working at once",
			c.clientRotateSecret),
		named("revoke", "Revoke every token issued to the client, client-credentials ones too", c.clientRevoke),
		named("delete", "Delete a client with every token issued to it", c.clientDelete),
	)
	return cmd
}

// clientFlags are the settings of a client that add and update share.
type clientFlags struct {
	grants, scopes string
	introspect     bool
	redirectURIs   []string
	firstParty     bool
	tokenFormat    string
	requireDPoP    bool
	resources      []string
}

func (f *clientFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.grants, "grants", "",
		"comma-separated grant types: password, client_credentials, refresh_token, authorization_code, device_code (short for urn:ietf:params:oauth:grant-type:device_code)")
	cmd.Flags().StringVar(&f.scopes, "scopes", "", `space-separated scopes, one argument ("items:read items:write"), as in RFC 6749 §3.3`)
	cmd.Flags().BoolVar(&f.introspect, "introspect", false, "may call the introspection endpoint")
	cmd.Flags().StringArrayVar(&f.redirectURIs, "redirect-uri", nil,
		"a redirect URI for /authorize, repeatable: https, or http on 127.0.0.1 or [::1]; no fragment")
	cmd.Flags().BoolVar(&f.firstParty, "first-party", false, "the operator's own client: users are not asked to consent (a public client's always are)")
	cmd.Flags().StringVar(&f.tokenFormat, "access-token-format", store.AccessTokenOpaque,
		"opaque (checked by introspection) or jwt (RFC 9068, checkable with the JWKS; lives AUTH_JWT_ACCESS_TTL, 5 minutes by default)")
	cmd.Flags().BoolVar(&f.requireDPoP, "require-dpop", false, "refuse token requests without a DPoP proof (RFC 9449)")
	cmd.Flags().StringArrayVar(&f.resources, "resource", nil,
		"a resource (RFC 8707 absolute URI) the client may ask tokens for, repeatable; without one, tokens get the server's default audience")
}

func (c *cli) clientAdd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add ID --grants G[,G...] [--scopes \"S S...\"] [--redirect-uri URI]... [--public] [--first-party] [--introspect] [--secret-stdin]",
		Short: "Create a client; prints its generated secret once on stdout",
		Long: `Create a client. A confidential client's secret is generated and printed once,
alone, on stdout, or with --secret-stdin read from the first line of stdin. A
--public client has no secret and may not use client_credentials.`,
		Args: exactArgs("ID"),
	}
	var f clientFlags
	f.register(cmd)
	public := cmd.Flags().Bool("public", false, "no secret (password, refresh_token, authorization_code and device_code only)")
	secretStdin := cmd.Flags().Bool("secret-stdin", false, "read the secret from stdin instead of generating one")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, id := cmd.Context(), args[0]
		nc := admin.NewClient{ID: id, Public: *public, Grants: splitGrants(f.grants), Scopes: strings.Fields(f.scopes), Introspect: f.introspect,
			RedirectURIs: f.redirectURIs, FirstParty: f.firstParty,
			AccessTokenFormat: f.tokenFormat, RequireDPoP: f.requireDPoP, Resources: f.resources}
		var problems []string
		if err := nc.Validate(); err != nil {
			problems = append(problems, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		if *public && *secretStdin {
			problems = append(problems, "--public and --secret-stdin contradict each other: a public client has no secret")
		}
		if len(problems) > 0 {
			return usageError{errors.New(strings.Join(problems, "; "))}
		}
		if *secretStdin {
			var err error
			if nc.Secret, err = c.readSecret(ctx); err != nil {
				return err
			}
			if err := store.ValidateClientSecret(nc.Secret); err != nil {
				return err
			}
			if nc.ShortSecret() {
				fmt.Fprintf(c.stderr, "authctl: warning: the client secret is shorter than %d characters; a generated one has 256 bits\n",
					store.MinClientSecretLength)
			}
		}
		return c.withAdmin(ctx, writes, func(svc backend) error {
			secret, err := svc.CreateClient(ctx, nc)
			if err != nil {
				return err
			}
			switch {
			case *public:
				fmt.Fprintf(c.stderr, "public client %q created\n", id)
			case *secretStdin:
				fmt.Fprintf(c.stderr, "client %q created with the secret read from stdin\n", id)
			default:
				// stdout carries the secret alone, so that a script can capture it.
				fmt.Fprintln(c.stdout, secret)
				fmt.Fprintf(c.stderr, "client %q created; its secret is printed above and cannot be shown again\n", id)
			}
			return nil
		})
	}
	return cmd
}

func (c *cli) clientUpdate() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update ID [--grants G[,G...]] [--scopes \"S S...\"] [--introspect=true|false] [--redirect-uri URI]... [--no-redirect-uris] [--first-party=true|false] [--access-token-format opaque|jwt] [--require-dpop=true|false] [--resource URI]... [--no-resources]",
		Short: "Change a client's grants, scopes, introspection permission, redirect URIs, first-party mark or token settings",
		Long: `Change a client's grants, scopes, introspection permission, redirect URIs or
first-party mark; what is not given stays. --redirect-uri replaces the whole
list; --no-redirect-uris empties it; --resource and --no-resources likewise.
Taking away a grant type, a scope or a resource, or starting to require DPoP,
revokes every token of the client (none may keep more than the client now
has); adding one revokes nothing.`,
		Args: exactArgs("ID"),
	}
	var f clientFlags
	f.register(cmd)
	noRedirects := cmd.Flags().Bool("no-redirect-uris", false, "remove every redirect URI")
	noResources := cmd.Flags().Bool("no-resources", false, "remove every resource")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var change admin.ClientChange
		switch {
		case *noRedirects && cmd.Flags().Changed("redirect-uri"):
			return usagef("--redirect-uri and --no-redirect-uris contradict each other")
		case *noRedirects:
			change.RedirectURIs = &[]string{}
		case cmd.Flags().Changed("redirect-uri"):
			change.RedirectURIs = &f.redirectURIs
		}
		if cmd.Flags().Changed("first-party") {
			change.FirstParty = &f.firstParty
		}
		switch {
		case *noResources && cmd.Flags().Changed("resource"):
			return usagef("--resource and --no-resources contradict each other")
		case *noResources:
			change.Resources = &[]string{}
		case cmd.Flags().Changed("resource"):
			change.Resources = &f.resources
		}
		if cmd.Flags().Changed("access-token-format") {
			change.AccessTokenFormat = &f.tokenFormat
		}
		if cmd.Flags().Changed("require-dpop") {
			change.RequireDPoP = &f.requireDPoP
		}
		if cmd.Flags().Changed("grants") {
			grants := splitGrants(f.grants)
			change.Grants = &grants
		}
		if cmd.Flags().Changed("scopes") {
			scopes := strings.Fields(f.scopes)
			change.Scopes = &scopes
		}
		if cmd.Flags().Changed("introspect") {
			change.Introspect = &f.introspect
		}
		if change == (admin.ClientChange{}) {
			return usagef("nothing to change: give --grants, --scopes, --introspect, --redirect-uri, --no-redirect-uris, --first-party, --access-token-format, --require-dpop, --resource or --no-resources")
		}
		return c.withName(cmd, args, writes, func(ctx context.Context, svc backend, id string) error {
			revoked, err := svc.UpdateClient(ctx, id, change)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("client %q not found", id)
			}
			if err != nil {
				return err
			}
			if revoked {
				fmt.Fprintf(c.stderr, "client %q updated; it lost a grant type, scope or resource, or now requires DPoP, so every token of it is revoked\n", id)
			} else {
				fmt.Fprintf(c.stderr, "client %q updated\n", id)
			}
			return nil
		})
	}
	return cmd
}

func (c *cli) clientRotateSecret(ctx context.Context, svc backend, id string) error {
	secret, err := svc.RotateSecret(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("client %q not found", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, secret)
	fmt.Fprintf(c.stderr, "secret of client %q rotated; the new one is printed above and cannot be shown again, the old one no longer works\n", id)
	return nil
}

// clientRevoke ends every grant of a client, client-credentials tokens
// included.
func (c *cli) clientRevoke(ctx context.Context, svc backend, id string) error {
	err := svc.RevokeClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("client %q not found", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "every token of client %q revoked\n", id)
	return nil
}

func (c *cli) clientDelete(ctx context.Context, svc backend, id string) error {
	err := svc.DeleteClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("client %q not found", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "client %q deleted; every token issued to it is revoked\n", id)
	return nil
}

func (c *cli) clientShow() *cobra.Command {
	cmd := &cobra.Command{Use: "show ID", Short: "Show one client (never its secret)", Args: exactArgs("ID")}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		return c.withName(cmd, args, reads, func(ctx context.Context, svc backend, id string) error {
			cl, err := svc.Client(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("client %q not found", id)
			}
			if err != nil {
				return err
			}
			if *output == "json" {
				return writeJSON(c.stdout, viewClient(cl))
			}
			return fields(c.stdout, "id", cl.ID, "public", strconv.FormatBool(cl.Public()),
				"grants", orDash(strings.Join(cl.GrantTypes, ",")), "scopes", orDash(strings.Join(cl.Scopes, " ")),
				"introspect", strconv.FormatBool(cl.Introspect), "first-party", strconv.FormatBool(cl.FirstParty),
				"redirect-uris", orDash(strings.Join(cl.RedirectURIs, " ")),
				"access-token-format", cl.AccessTokenFormat, "require-dpop", strconv.FormatBool(cl.RequireDPoP),
				"resources", orDash(strings.Join(cl.Resources, " ")), "created", timestamp(cl.CreatedAt))
		})
	}
	return cmd
}

func (c *cli) clientList() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List clients: id, public, grants, scopes, introspect, first party", Args: exactArgs()}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		return c.withAdmin(cmd.Context(), reads, func(svc backend) error {
			clients, err := svc.Clients(cmd.Context())
			if err != nil {
				return err
			}
			if *output == "json" {
				views := make([]clientView, 0, len(clients))
				for _, cl := range clients {
					views = append(views, viewClient(cl))
				}
				return writeJSON(c.stdout, views)
			}
			// Scopes are comma-joined like grants so that every column is
			// one whitespace-free field for scripts.
			rows := make([][]string, 0, len(clients))
			for _, cl := range clients {
				rows = append(rows, []string{cl.ID, strconv.FormatBool(cl.Public()),
					orDash(strings.Join(cl.GrantTypes, ",")), orDash(strings.Join(cl.Scopes, ",")), strconv.FormatBool(cl.Introspect),
					strconv.FormatBool(cl.FirstParty)})
			}
			return table(c.stdout, "ID\tPUBLIC\tGRANTS\tSCOPES\tINTROSPECT\tFIRST-PARTY", rows)
		})
	}
	return cmd
}

// splitGrants splits "password, refresh_token" at commas, dropping blanks.
func splitGrants(s string) []string {
	var grants []string
	for g := range strings.SplitSeq(s, ",") {
		if g = strings.TrimSpace(g); g != "" {
			grants = append(grants, g)
		}
	}
	return grants
}
