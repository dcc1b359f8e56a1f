package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/store"
)

func (c *cli) userAdd(ctx context.Context, args []string) error {
	return c.withName(ctx, "user add", args, store.ValidateUsername, func(svc *admin.Service, name string) error {
		// Look first so that nobody types a password for nothing.
		if err := svc.CheckNewUsername(ctx, name); errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("user %q already exists", name)
		} else if err != nil {
			return err
		}
		password, err := c.newPassword(ctx, svc)
		if err != nil {
			return err
		}
		err = svc.CreateUser(ctx, name, password)
		if errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("user %q already exists", name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "user %q created\n", name)
		return nil
	})
}

func (c *cli) userPasswd(ctx context.Context, args []string) error {
	return c.withName(ctx, "user passwd", args, nil, existingUser(ctx, func(svc *admin.Service, name string) error {
		password, err := c.newPassword(ctx, svc)
		if err != nil {
			return err
		}
		if err := svc.SetPassword(ctx, name, password); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "password of user %q changed; every token it held is revoked\n", name)
		return nil
	}))
}

// userUnlock clears a username's login failures and lockout, for a user
// locked out by someone guessing at their name.
func (c *cli) userUnlock(ctx context.Context, args []string) error {
	return c.withName(ctx, "user unlock", args, nil, existingUser(ctx, func(svc *admin.Service, name string) error {
		if err := svc.Unlock(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "user %q unlocked\n", name)
		return nil
	}))
}

func (c *cli) userSetDisabled(ctx context.Context, args []string, disabled bool) error {
	verb := map[bool]string{true: "disable", false: "enable"}[disabled]
	return c.withName(ctx, "user "+verb, args, nil, existingUser(ctx, func(svc *admin.Service, name string) error {
		changed, err := svc.SetDisabled(ctx, name, disabled)
		if err != nil {
			return err
		}
		if !changed {
			fmt.Fprintf(c.stderr, "user %q is already %sd\n", name, verb)
			return nil
		}
		if disabled {
			fmt.Fprintf(c.stderr, "user %q disabled; every token it held is revoked and stays so after an enable\n", name)
			return nil
		}
		fmt.Fprintf(c.stderr, "user %q enabled\n", name)
		return nil
	}))
}

// userRevoke ends every grant of a user: "sign out everywhere".
func (c *cli) userRevoke(ctx context.Context, args []string) error {
	return c.withName(ctx, "user revoke", args, nil, existingUser(ctx, func(svc *admin.Service, name string) error {
		if err := svc.RevokeUser(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "every token of user %q revoked\n", name)
		return nil
	}))
}

// existingUser runs fn only if the user exists, so that a mistyped name is
// reported as such (and nobody types a password for nothing).
func existingUser(ctx context.Context, fn func(*admin.Service, string) error) func(*admin.Service, string) error {
	return func(svc *admin.Service, name string) error {
		_, err := svc.User(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("user %q not found", name)
		}
		if err != nil {
			return fmt.Errorf("look up user %q: %w", name, err)
		}
		return fn(svc, name)
	}
}

func (c *cli) userList(ctx context.Context, args []string) error {
	if _, err := parseCommand(newFlagSet("authctl user list"), args, c.stderr); err != nil {
		return err
	}
	return c.withAdmin(ctx, func(svc *admin.Service) error {
		users, err := svc.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tDISABLED\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%t\t%s\n", u.Username, u.Disabled, u.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	})
}
