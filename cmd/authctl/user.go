package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/example/authsvc/store"
)

func (c *cli) userCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users (resource owners of the password grant)"}
	group(cmd)
	named := func(use, short string, fn func(ctx context.Context, svc backend, name string) error) *cobra.Command {
		return &cobra.Command{Use: use + " NAME", Short: short, Args: exactArgs("NAME"),
			RunE: func(cmd *cobra.Command, args []string) error { return c.withName(cmd, args, writes, fn) }}
	}
	add := named("add", "Create a user; the password is the first line of stdin, or prompted for twice on a terminal", c.userAdd)
	add.Args = func(cmd *cobra.Command, args []string) error {
		if err := exactArgs("NAME")(cmd, args); err != nil {
			return err
		}
		// Refuse a bad name before anyone types a password.
		if err := store.ValidateUsername(args[0]); err != nil {
			return usageError{err}
		}
		return nil
	}
	cmd.AddCommand(
		add,
		named("passwd", "Set a user's password (read as for add); revokes every token the user holds",
			existingUser(c.userPasswd)),
		named("disable", "Refuse a user's logins; revokes every token the user holds (an enable brings none back)",
			existingUser(func(ctx context.Context, svc backend, name string) error {
				return c.userSetDisabled(ctx, svc, name, true)
			})),
		named("enable", "Allow a disabled user's logins again",
			existingUser(func(ctx context.Context, svc backend, name string) error {
				return c.userSetDisabled(ctx, svc, name, false)
			})),
		named("unlock", "Clear a user's failed logins and any lockout", existingUser(c.userUnlock)),
		named("revoke", "Revoke every token the user holds (sign out everywhere)", existingUser(c.userRevoke)),
		named("delete", "Delete a user with every token and grant it holds and its failed-login record", c.userDelete),
		c.userShow(),
		c.userList(),
	)
	return cmd
}

func (c *cli) userAdd(ctx context.Context, svc backend, name string) error {
	// Look first so that nobody types a password for nothing.
	if err := svc.CheckNewUsername(ctx, name); err != nil {
		return err
	}
	password, err := c.newPassword(ctx, svc)
	if err != nil {
		return err
	}
	if err := svc.CreateUser(ctx, name, password); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "user %q created\n", name)
	return nil
}

func (c *cli) userPasswd(ctx context.Context, svc backend, name string) error {
	password, err := c.newPassword(ctx, svc)
	if err != nil {
		return err
	}
	if err := svc.SetPassword(ctx, name, password); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "password of user %q changed; every token it held is revoked\n", name)
	return nil
}

// userUnlock clears a username's login failures and lockout, for a user
// locked out by someone guessing at their name.
func (c *cli) userUnlock(ctx context.Context, svc backend, name string) error {
	if err := svc.Unlock(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "user %q unlocked\n", name)
	return nil
}

func (c *cli) userSetDisabled(ctx context.Context, svc backend, name string, disabled bool) error {
	verb := map[bool]string{true: "disable", false: "enable"}[disabled]
	changed, err := svc.SetDisabled(ctx, name, disabled)
	if err != nil {
		return err
	}
	switch {
	case !changed:
		fmt.Fprintf(c.stderr, "user %q is already %sd\n", name, verb)
	case disabled:
		fmt.Fprintf(c.stderr, "user %q disabled; every token it held is revoked and stays so after an enable\n", name)
	default:
		fmt.Fprintf(c.stderr, "user %q enabled\n", name)
	}
	return nil
}

// userRevoke ends every grant of a user: "sign out everywhere".
func (c *cli) userRevoke(ctx context.Context, svc backend, name string) error {
	if err := svc.RevokeUser(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "every token of user %q revoked\n", name)
	return nil
}

func (c *cli) userDelete(ctx context.Context, svc backend, name string) error {
	err := svc.DeleteUser(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("user %q not found", name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "user %q deleted; every token it held is revoked\n", name)
	return nil
}

// existingUser runs fn only if the user exists, so that a mistyped name is
// reported as such (and nobody types a password for nothing).
func existingUser(fn func(context.Context, backend, string) error) func(context.Context, backend, string) error {
	return func(ctx context.Context, svc backend, name string) error {
		_, err := svc.User(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("user %q not found", name)
		}
		if err != nil {
			return fmt.Errorf("look up user %q: %w", name, err)
		}
		return fn(ctx, svc, name)
	}
}

func (c *cli) userShow() *cobra.Command {
	cmd := &cobra.Command{Use: "show NAME", Short: "Show one user", Args: exactArgs("NAME")}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		return c.withName(cmd, args, reads, func(ctx context.Context, svc backend, name string) error {
			u, err := svc.User(ctx, name)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("user %q not found", name)
			}
			if err != nil {
				return err
			}
			if *output == "json" {
				return writeJSON(c.stdout, viewUser(u))
			}
			return fields(c.stdout, "username", u.Username, "disabled", strconv.FormatBool(u.Disabled),
				"created", timestamp(u.CreatedAt), "updated", timestamp(u.UpdatedAt))
		})
	}
	return cmd
}

func (c *cli) userList() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List users: username, disabled, created", Args: exactArgs()}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		return c.withAdmin(cmd.Context(), reads, func(svc backend) error {
			users, err := svc.Users(cmd.Context())
			if err != nil {
				return err
			}
			if *output == "json" {
				views := make([]userView, 0, len(users))
				for _, u := range users {
					views = append(views, viewUser(u))
				}
				return writeJSON(c.stdout, views)
			}
			rows := make([][]string, 0, len(users))
			for _, u := range users {
				rows = append(rows, []string{u.Username, strconv.FormatBool(u.Disabled), timestamp(u.CreatedAt)})
			}
			return table(c.stdout, "USERNAME\tDISABLED\tCREATED", rows)
		})
	}
	return cmd
}
