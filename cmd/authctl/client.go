package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/store"
)

func (c *cli) clientAdd(ctx context.Context, args []string) error {
	fs := newFlagSet("authctl client add")
	grantList := fs.String("grants", "", "comma-separated grant types")
	scopeList := fs.String("scopes", "", "space-separated scopes")
	public := fs.Bool("public", false, "no secret (password and refresh_token only)")
	introspect := fs.Bool("introspect", false, "may call the introspection endpoint")
	secretStdin := fs.Bool("secret-stdin", false, "read the secret from stdin instead of generating one")
	pos, err := parseCommand(fs, args, c.stderr, "ID")
	if err != nil {
		return err
	}
	id := pos[0]

	nc := admin.NewClient{ID: id, Public: *public, Grants: splitGrants(*grantList), Scopes: strings.Fields(*scopeList), Introspect: *introspect}
	var problems []string
	if err := nc.Validate(); err != nil {
		problems = append(problems, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if *public && *secretStdin {
		problems = append(problems, "-public and -secret-stdin contradict each other: a public client has no secret")
	}
	if len(problems) > 0 {
		return usageError{errors.New(strings.Join(problems, "; "))}
	}
	if *secretStdin {
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

	return c.withAdmin(ctx, func(svc *admin.Service) error {
		secret, err := svc.CreateClient(ctx, nc)
		if errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("client %q already exists", id)
		}
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

func (c *cli) clientList(ctx context.Context, args []string) error {
	if _, err := parseCommand(newFlagSet("authctl client list"), args, c.stderr); err != nil {
		return err
	}
	return c.withAdmin(ctx, func(svc *admin.Service) error {
		clients, err := svc.Clients(ctx)
		if err != nil {
			return err
		}
		// Scopes are comma-joined like grants so that every column is one
		// whitespace-free field for scripts.
		tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPUBLIC\tGRANTS\tSCOPES\tINTROSPECT")
		for _, cl := range clients {
			fmt.Fprintf(tw, "%s\t%t\t%s\t%s\t%t\n", cl.ID, cl.Public(),
				orDash(strings.Join(cl.GrantTypes, ",")), orDash(strings.Join(cl.Scopes, ",")), cl.Introspect)
		}
		return tw.Flush()
	})
}

// clientRevoke ends every grant of a client, client-credentials tokens
// included.
func (c *cli) clientRevoke(ctx context.Context, args []string) error {
	pos, err := parseCommand(newFlagSet("authctl client revoke"), args, c.stderr, "ID")
	if err != nil {
		return err
	}
	id := pos[0]
	return c.withAdmin(ctx, func(svc *admin.Service) error {
		err := svc.RevokeClient(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("client %q not found", id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "every token of client %q revoked\n", id)
		return nil
	})
}
