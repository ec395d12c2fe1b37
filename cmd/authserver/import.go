package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/djangodump"
	"github.com/oauthkit/authserver/authserver/store"
)

// importBatch is how many users one store transaction (or one set of
// Redis pipelines) imports.
const importBatch = 1000

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
				sum, err := importDjango(ctx, u, in, opts, cmd.ErrOrStderr())
				if sum != nil {
					sum.print(cmd.ErrOrStderr(), opts.DryRun)
					if !opts.DryRun && sum.total() > 0 {
						audit(cmd, "users imported", "users_imported", "created", sum.created, "updated", sum.updated,
							"unchanged", sum.unchanged, "skipped", sum.skipped, "refused", sum.refused)
					}
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

// importSummary counts what an import did.
type importSummary struct {
	created, updated, unchanged, skipped, refused int
}

func (s *importSummary) total() int {
	return s.created + s.updated + s.unchanged + s.skipped + s.refused
}

func (s *importSummary) print(w io.Writer, dryRun bool) {
	note := ""
	if dryRun {
		note = " (dry run: nothing was changed)"
	}
	fmt.Fprintf(w, "created %d, updated %d, unchanged %d, skipped %d, refused %d%s\n",
		s.created, s.updated, s.unchanged, s.skipped, s.refused, note)
}

// importDjango reads the dump from in and imports it in batches, writing
// one line per refused or skipped row to report. It returns what it did
// so far, also with an error.
func importDjango(ctx context.Context, u *authserver.Users, in io.Reader, opts store.ImportOptions, report io.Writer) (*importSummary, error) {
	sum := &importSummary{}
	dump := djangodump.NewReader(in)
	batch := make([]store.ImportedUser, 0, importBatch)
	rows := make([]int, 0, importBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := u.Import(ctx, batch, opts)
		if err != nil {
			return err
		}
		for i, r := range res {
			switch r.Action {
			case store.ImportCreated:
				sum.created++
			case store.ImportUpdated:
				sum.updated++
			case store.ImportUnchanged:
				sum.unchanged++
			case store.ImportSkipped:
				sum.skipped++
				fmt.Fprintf(report, "skipped object %d (pk %s, %s): a user of that name exists here that was not imported from this pk (--overwrite replaces it)\n",
					rows[i], batch[i].User.Claims[authserver.DjangoUserIDClaim], batch[i].User.Name)
			}
		}
		batch, rows = batch[:0], rows[:0]
		return nil
	}
	now := time.Now()
	for {
		obj, i, err := dump.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, djangodump.ErrRow) {
			sum.refused++
			fmt.Fprintf(report, "refused %v\n", err)
			continue
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return sum, ferr
			}
			return sum, err
		}
		user, err := authserver.DjangoUser(obj, now)
		if err != nil {
			sum.refused++
			pk, _ := obj.Key()
			fmt.Fprintf(report, "refused object %d (pk %s): %v\n", i, pk, err)
			continue
		}
		batch, rows = append(batch, user), append(rows, i)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return sum, err
			}
		}
	}
	return sum, flush()
}
