package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// normalizeArgs keeps authctl's old spellings working: it was built on the
// standard flag package, where a long flag takes one dash ("-grants",
// "-db=..."), and scripts use them. pflag reads "-grants" as the
// shorthands g, r, a, ... instead, so every "-NAME" or "-NAME=VALUE" whose
// NAME is a long flag of some authctl command becomes "--NAME...". Anything
// else is left to pflag (a one-letter shorthand like "-o json" or "-h", or
// an unknown flag, which pflag reports), and nothing after "--" is touched,
// so a username may still begin with a dash.
func normalizeArgs(root *cobra.Command, args []string) []string {
	long := map[string]bool{}
	var collect func(*cobra.Command)
	collect = func(cmd *cobra.Command) {
		add := func(f *pflag.Flag) { long[f.Name] = true }
		cmd.PersistentFlags().VisitAll(add)
		cmd.Flags().VisitAll(add)
		for _, sub := range cmd.Commands() {
			collect(sub)
		}
	}
	collect(root)

	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if long[name] {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}
