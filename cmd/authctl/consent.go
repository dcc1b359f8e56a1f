package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/example/authsvc/store"
)

func (c *cli) consentCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "consent", Short: "Manage what users have allowed clients at the consent page"}
	group(cmd)
	cmd.AddCommand(c.consentRevoke())
	return cmd
}

func (c *cli) consentRevoke() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke --user U --client C",
		Short: "Forget a user's consent to a client, so that its next sign-in asks again",
		Long: `Forget what a user allowed a client at the consent page: the client's next
authorization for the user shows the consent page again. Tokens already
issued stay; end them with user revoke or client revoke.`,
		Args: exactArgs(),
	}
	user := cmd.Flags().String("user", "", "the username")
	client := cmd.Flags().String("client", "", "the client id")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *user == "" || *client == "" {
			return usagef("give both --user and --client")
		}
		if err := store.ValidateUsername(*user); err != nil {
			return usageError{err}
		}
		if err := store.ValidateClientID(*client); err != nil {
			return usageError{err}
		}
		return c.withAdmin(cmd.Context(), writes, func(svc backend) error {
			err := svc.RevokeConsent(cmd.Context(), *user, *client)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no user %q or no client %q", *user, *client)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "consent of user %q to client %q revoked\n", *user, *client)
			return nil
		})
	}
	return cmd
}
