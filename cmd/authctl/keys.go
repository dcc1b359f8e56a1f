package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/authserver/adminapi"
	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/store"
)

func (c *cli) keysCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage the keys that sign JWT access tokens"}
	group(cmd)
	cmd.AddCommand(c.keysList(), c.keysRotate(), c.keysRetire())
	return cmd
}

// keyState names where a key is in its life at now, as the admin API does.
var keyState = adminapi.KeyState

func (c *cli) keysList() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the signing keys: kid, algorithm, state, when each signs and stays published (never key material)",
		Args: exactArgs()}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		return c.withAdmin(cmd.Context(), reads, func(svc backend) error {
			list, err := svc.SigningKeys(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			if *output == "json" {
				views := make([]keyView, 0, len(list))
				for _, k := range list {
					views = append(views, viewKey(k, now))
				}
				return writeJSON(c.stdout, views)
			}
			rows := make([][]string, 0, len(list))
			for _, k := range list {
				rows = append(rows, []string{k.ID, k.Algorithm, keyState(k, now), timestamp(k.ActiveAt),
					optionalTimestamp(k.RetiredAt), optionalTimestamp(k.PublishedUntil)})
			}
			return table(c.stdout, "KID\tALG\tSTATE\tSIGNS-FROM\tSIGNS-UNTIL\tPUBLISHED-UNTIL", rows)
		})
	}
	return cmd
}

func optionalTimestamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return timestamp(t)
}

// kek reads the key-encryption key as the server does.
func (c *cli) kek() (*keys.KEK, error) {
	k, err := keys.LoadKEK(c.getenv("AUTH_KEY_ENCRYPTION_KEY"), c.getenv("AUTH_KEY_ENCRYPTION_KEY_FILE"))
	if err != nil {
		return nil, usageError{fmt.Errorf("AUTH_KEY_ENCRYPTION_KEY / AUTH_KEY_ENCRYPTION_KEY_FILE: %w", err)}
	}
	if k == nil {
		return nil, usageError{errors.New("set AUTH_KEY_ENCRYPTION_KEY or AUTH_KEY_ENCRYPTION_KEY_FILE to the server's key-encryption key: the new key is sealed with it")}
	}
	return k, nil
}

func (c *cli) keysRotate() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate [--alg ES256|EdDSA] [--publish-for DURATION]",
		Short: "Make a new signing key: published at once, signing after --publish-for; the current key then retires",
		Long: `Make a new signing key, sealed with the key-encryption key
(AUTH_KEY_ENCRYPTION_KEY or AUTH_KEY_ENCRYPTION_KEY_FILE, the server's; through
--server, the server seals it with its own). It is published in the JWKS at
once and signs once --publish-for has passed (10m by default, longer than the
JWKS max-age of 5 minutes), so every resource knows it before it meets a token
it signed. The key signing until then retires at that moment and stays
published until the last token it signed has expired. Every server replica
switches at the same moment. --publish-for 0 switches at once (after a
compromise); resources then fetch the unknown kid.`,
		Args: exactArgs(),
	}
	alg := cmd.Flags().String("alg", keys.ES256, "ES256 or EdDSA")
	window := cmd.Flags().Duration("publish-for", admin.DefaultPublishWindow, "how long the key is published before it signs")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := keys.ValidateAlgorithm(*alg); err != nil {
			return usageError{err}
		}
		if *window < 0 {
			return usagef("--publish-for must not be negative")
		}
		// Through the admin API, the server seals the key with its own.
		var kek *keys.KEK
		if c.server == "" {
			var err error
			if kek, err = c.kek(); err != nil {
				return err
			}
		}
		return c.withAdmin(cmd.Context(), writes, func(svc backend) error {
			k, err := svc.RotateSigningKey(cmd.Context(), kek, *alg, *window)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, k.ID)
			fmt.Fprintf(c.stderr, "signing key %s (%s) published; it signs from %s\n", k.ID, k.Algorithm, timestamp(k.ActiveAt))
			return nil
		})
	}
	return cmd
}

func (c *cli) keysRetire() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "retire [--compromised] [--] KID",
		Short: "Stop a key signing now; it stays published until its tokens expire, or leaves the JWKS at once with --compromised",
		Args:  exactArgs("KID"),
	}
	compromised := cmd.Flags().Bool("compromised", false, "take the key out of the JWKS at once: the tokens it signed stop working at resources that check JWTs")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		kid := args[0]
		return c.withAdmin(cmd.Context(), writes, func(svc backend) error {
			err := svc.RetireSigningKey(cmd.Context(), kid, *compromised)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no signing key %q", kid)
			}
			if err != nil {
				return err
			}
			if *compromised {
				fmt.Fprintf(c.stderr, "signing key %s retired and unpublished\n", kid)
			} else {
				fmt.Fprintf(c.stderr, "signing key %s retired; it stays published until its tokens have expired\n", kid)
			}
			return nil
		})
	}
	return cmd
}

// viewKey is a signing key in JSON output, as the admin API shows it:
// never key material.
var viewKey = adminapi.ViewSigningKey
