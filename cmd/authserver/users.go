package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/oauthkit/authserver/authserver"
)

func commandUsers(flags *rootFlags) *cobra.Command {
	cmd := groupCommand("users", "Administer users (the resource owners of the password grant)")
	cmd.AddCommand(
		usersAdd(flags),
		usersPasswd(flags),
		sessionEndingCommand(flags, "disable NAME", "Disable a user (and log it out everywhere)", "user disabled", "user_disabled",
			func(ctx context.Context, u *authserver.Users, name string) (int, error) {
				return u.SetDisabled(ctx, name, true)
			}),
		usersEnable(flags),
		sessionEndingCommand(flags, "delete NAME", "Delete a user and revoke its sessions", "user deleted", "user_deleted",
			func(ctx context.Context, u *authserver.Users, name string) (int, error) { return u.Delete(ctx, name) }),
		usersUnlock(flags),
		usersList(flags),
		usersImport(flags),
	)
	return cmd
}

// usersAdd is `users add NAME [--password-stdin] [--claim k=v]...`.
func usersAdd(flags *rootFlags) *cobra.Command {
	var (
		stdin  bool
		claims []string
	)
	add := takesDashArgs(&cobra.Command{
		Use:   "add NAME",
		Short: "Create a user; prints its id (the sub of its tokens)",
		Args:  cobra.ExactArgs(1),
		RunE: withUsers(flags, func(ctx context.Context, cmd *cobra.Command, u *authserver.Users, name string) error {
			cl, err := parseClaims(claims)
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, stdin)
			if err != nil {
				return err
			}
			user, err := u.Add(ctx, name, pw, cl)
			if err != nil {
				return err
			}
			audit(cmd, "user created", "user_created", "user_id", user.ID)
			fmt.Fprintln(cmd.OutOrStdout(), user.ID)
			return nil
		}),
	})
	add.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from stdin instead of the terminal")
	add.Flags().StringArrayVar(&claims, "claim", nil, "a claim name=value copied into the user's access tokens (repeatable)")
	return add
}

// parseClaims turns --claim name=value flags into a claim map.
func parseClaims(kvs []string) (map[string]string, error) {
	cl := map[string]string{}
	for _, kv := range kvs {
		k, v, err := authserver.ParseClaim(kv)
		if err != nil {
			return nil, err
		}
		cl[k] = v
	}
	return cl, nil
}

// usersPasswd is `users passwd NAME [--password-stdin]`.
func usersPasswd(flags *rootFlags) *cobra.Command {
	var stdin bool
	passwd := takesDashArgs(&cobra.Command{
		Use:   "passwd NAME",
		Short: "Change a user's password (and log it out everywhere)",
		Args:  cobra.ExactArgs(1),
		RunE: withUsers(flags, func(ctx context.Context, cmd *cobra.Command, u *authserver.Users, name string) error {
			pw, err := readPassword(cmd, stdin)
			if err != nil {
				return err
			}
			n, err := u.SetPassword(ctx, name, pw)
			if err != nil {
				return err
			}
			audit(cmd, "user password changed", "user_password_changed", "user", name, "sessions_revoked", n)
			fmt.Fprintf(cmd.ErrOrStderr(), "password changed; %d session(s) revoked\n", n)
			return nil
		}),
	})
	passwd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from stdin instead of the terminal")
	return passwd
}

// usersEnable is `users enable NAME`.
func usersEnable(flags *rootFlags) *cobra.Command {
	return takesDashArgs(&cobra.Command{
		Use:   "enable NAME",
		Short: "Enable a disabled user",
		Args:  cobra.ExactArgs(1),
		RunE: withUsers(flags, func(ctx context.Context, cmd *cobra.Command, u *authserver.Users, name string) error {
			if _, err := u.SetDisabled(ctx, name, false); err != nil {
				return err
			}
			audit(cmd, "user enabled", "user_enabled", "user", name)
			return nil
		}),
	})
}

// usersUnlock is `users unlock NAME`.
func usersUnlock(flags *rootFlags) *cobra.Command {
	return takesDashArgs(&cobra.Command{
		Use:   "unlock NAME",
		Short: "End a user's login lockout before its window has passed",
		Args:  cobra.ExactArgs(1),
		RunE: withUsers(flags, func(ctx context.Context, cmd *cobra.Command, u *authserver.Users, name string) error {
			if err := u.Unlock(ctx, name); err != nil {
				return err
			}
			audit(cmd, "user unlocked", "user_unlocked", "user", name)
			return nil
		}),
	})
}

// usersList is `users list`.
func usersList(flags *rootFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWithUsers(cmd, flags, func(ctx context.Context, u *authserver.Users) error {
				users, err := u.List(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tID\tSTATUS\tCREATED")
				for _, us := range users {
					status := "enabled"
					if us.Disabled {
						status = "disabled"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", us.Name, us.ID, status, us.Created.UTC().Format("2006-01-02T15:04:05Z"))
				}
				return tw.Flush()
			})
		},
	}
}

// sessionEndingCommand is a users command that changes a user and revokes
// its sessions, reporting how many.
func sessionEndingCommand(flags *rootFlags, use, short, done, event string, op func(context.Context, *authserver.Users, string) (int, error)) *cobra.Command {
	return takesDashArgs(&cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: withUsers(flags, func(ctx context.Context, cmd *cobra.Command, u *authserver.Users, name string) error {
			n, err := op(ctx, u, name)
			if err != nil {
				return err
			}
			audit(cmd, done, event, "user", name, "sessions_revoked", n)
			fmt.Fprintf(cmd.ErrOrStderr(), "%s; %d session(s) revoked\n", done, n)
			return nil
		}),
	})
}

type userFunc func(ctx context.Context, cmd *cobra.Command, u *authserver.Users, name string) error

func withUsers(flags *rootFlags, f userFunc) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return runWithUsers(cmd, flags, func(ctx context.Context, u *authserver.Users) error {
			return f(ctx, cmd, u, args[0])
		})
	}
}

func runWithUsers(cmd *cobra.Command, flags *rootFlags, f func(context.Context, *authserver.Users) error) error {
	a, err := openApp(flags, false, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer a.store.Close()
	u, err := a.users()
	if err != nil {
		return err
	}
	return f(cmd.Context(), u)
}

// readPassword reads a password from stdin (--password-stdin: the first
// line) or, on a terminal, with a hidden prompt asked twice.
func readPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	if fromStdin {
		return readLine(cmd)
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", fmt.Errorf("stdin is not a terminal: use --password-stdin")
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(cmd.ErrOrStderr(), prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(cmd.ErrOrStderr())
		return string(b), err
	}
	pw, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	again, err := ask("Again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", fmt.Errorf("passwords do not match")
	}
	return pw, nil
}

// audit writes one audit line for a change made from the command line,
// as JSON on stderr like the server's own audit events.
func audit(cmd *cobra.Command, msg, event string, attrs ...any) {
	log := newLogger(cmd.ErrOrStderr(), false)
	log.Info(msg, append([]any{"log", "audit", "event", event, "by", "cli"}, attrs...)...)
}
