package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/example/authsvc/authserver/adminapi"
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

// viewUser and viewClient are what authctl shows of a user or a client,
// the admin API's views: never a password hash or a secret hash.
type (
	userView   = adminapi.User
	clientView = adminapi.RegisteredClient
	keyView    = adminapi.SigningKey
)

var (
	viewUser   = adminapi.ViewUser
	viewClient = adminapi.ViewClient
)

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
