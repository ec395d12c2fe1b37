package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/store"
)

// usersImport is `users import FILE|- [--dry-run] [--overwrite]`.
func usersImport(flags *rootFlags) *cobra.Command {
	var opts store.ImportOptions
	cmd := &cobra.Command{
		Use:   "import FILE|-",
		Short: "Import users from Django's `manage.py dumpdata auth.user` JSON (- for stdin), keeping their password hashes",
		Long: `Import users from the JSON that Django's "manage.py dumpdata auth.user" writes
(or a custom user model with the same fields), read as a stream.

Re-running is idempotent: a user imported before from the same Django pk is
updated; a user of the same name created here (or from another pk) is
skipped unless --overwrite. A password set here (at a login's re-hash or by
"users passwd") is kept unless --overwrite. A replaced password or a
disabled user ends that user's sessions. The summary and the reason for
each refused or skipped row go to stderr; no password hash is printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, closeIn, err := openInput(cmd, args[0])
			if err != nil {
				return err
			}
			defer closeIn()
			return runWithUsers(cmd, flags, func(ctx context.Context, u *authserver.Users) error {
				w := cmd.ErrOrStderr()
				sum, err := u.ImportDjango(ctx, in, opts, func(line string) { fmt.Fprintln(w, line) })
				note := ""
				if opts.DryRun {
					note = " (dry run: nothing was changed)"
				}
				fmt.Fprintf(w, "created %d, updated %d, unchanged %d, skipped %d, refused %d%s\n",
					sum.Created, sum.Updated, sum.Unchanged, sum.Skipped, sum.Refused, note)
				if !opts.DryRun && sum != (authserver.ImportSummary{}) {
					audit(cmd, "users imported", "users_imported", "created", sum.Created, "updated", sum.Updated,
						"unchanged", sum.Unchanged, "skipped", sum.Skipped, "refused", sum.Refused)
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "report what would change, change nothing")
	cmd.Flags().BoolVar(&opts.Overwrite, "overwrite", false, "also replace users that were not imported from the same Django pk, and passwords set here")
	return cmd
}

func openInput(cmd *cobra.Command, name string) (io.Reader, func(), error) {
	if name == "-" {
		return bufio.NewReaderSize(cmd.InOrStdin(), 1<<16), func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return bufio.NewReaderSize(f, 1<<16), func() { f.Close() }, nil
}
