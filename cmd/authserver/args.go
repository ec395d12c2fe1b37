package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// execute runs root with args, reading ids that start with '-' as the
// arguments they are (see literalDashArgs).
func execute(root *cobra.Command, args []string) error {
	root.SetArgs(literalDashArgs(root, args))
	return root.Execute()
}

// groupCommand is a command that only holds subcommands. Alone it prints
// its help; with an argument that names no subcommand it fails, so that a
// typo in a script is an error and not help with exit status 0 (cobra
// prints help and succeeds for a group that is not runnable).
func groupCommand(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  unknownSubcommand,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
}

// unknownSubcommand refuses any argument of a group command, in one line
// that names the closest subcommand if there is one.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	hint := ""
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = fmt.Sprintf("; did you mean %q?", s[0])
	}
	return fmt.Errorf("unknown command %q for %q%s", args[0], cmd.CommandPath(), hint)
}

// dashArgsAnnotation marks a command whose positional arguments (kids,
// user names) may start with '-': a kid is base64url, so one in 64 does.
const dashArgsAnnotation = "authserver/dash-args"

// takesDashArgs marks cmd with dashArgsAnnotation and returns it.
func takesDashArgs(cmd *cobra.Command) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[dashArgsAnnotation] = "true"
	return cmd
}

// literalDashArgs rewrites args for a command marked by takesDashArgs so
// that a token which is not one of that command's flags is read as a
// positional argument, even when it starts with '-': `keys revoke -9dG…`
// (a kid pasted from `keys list`) then means the kid, not a shorthand
// flag -9. It does so by moving such tokens behind a "--", after the
// flags; flag values (`--family -abc`) stay with their flag. An operator
// in an incident should not have to know about "--".
func literalDashArgs(root *cobra.Command, args []string) []string {
	cmd, rest, err := root.Find(args)
	if err != nil || cmd.Annotations[dashArgsAnnotation] == "" {
		return args
	}
	cmd.InitDefaultHelpFlag()
	cmd.InheritedFlags() // merges the persistent flags of the parents into Flags
	flags := cmd.Flags()
	var path []string
	for c := cmd; c.HasParent(); c = c.Parent() {
		path = append([]string{c.Name()}, path...)
	}
	var kept, positional []string
	for i := 0; i < len(rest); i++ {
		s := rest[i]
		switch {
		case s == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case s == "-" || !strings.HasPrefix(s, "-"):
			positional = append(positional, s)
		default:
			n := flagTokens(flags, s)
			if n == 0 {
				positional = append(positional, s)
				continue
			}
			end := min(i+n, len(rest))
			kept = append(kept, rest[i:end]...)
			i = end - 1
		}
	}
	if len(positional) == 0 {
		return args
	}
	out := append(append(path, kept...), "--")
	return append(out, positional...)
}

// flagTokens returns how many tokens the flag s spans in flags (1, or 2
// when its value is the next token), or 0 if s is not a flag of flags.
func flagTokens(flags *pflag.FlagSet, s string) int {
	if name, ok := strings.CutPrefix(s, "--"); ok {
		name, _, hasValue := strings.Cut(name, "=")
		f := flags.Lookup(name)
		switch {
		case f == nil:
			return 0
		case hasValue || f.NoOptDefVal != "":
			return 1
		}
		return 2
	}
	// A shorthand group such as -vh: every letter must be a flag; a flag
	// with a value takes the rest of the token, or the next one.
	short := s[1:]
	for j := 0; j < len(short); j++ {
		f := flags.ShorthandLookup(short[j : j+1])
		switch {
		case f == nil:
			return 0
		case f.NoOptDefVal != "":
			continue
		case j+1 < len(short):
			return 1
		}
		return 2
	}
	return 1
}
