package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/oauthkit/authserver/authserver/store"
)

var _ store.Importer = (*Store)(nil)

// errDryRun rolls back the transaction of a dry run.
var errDryRun = errors.New("dry run")

// ImportUsers imports users in one write transaction: each user is read,
// planned with store.PlanImport and written inside it, so no other writer
// comes between the read and the write. A dry run reads and plans only.
func (s *Store) ImportUsers(ctx context.Context, users []store.ImportedUser, opts store.ImportOptions) ([]store.ImportResult, error) {
	results := make([]store.ImportResult, 0, len(users))
	err := s.write(ctx, "import users", func(tx *sql.Tx) error {
		results = results[:0]
		get, err := tx.PrepareContext(ctx, "SELECT "+userColumns+" FROM users WHERE name = ?")
		if err != nil {
			return err
		}
		defer get.Close()
		insert, err := tx.PrepareContext(ctx, "INSERT INTO users ("+userColumns+") VALUES (?, ?, ?, ?, ?, ?, 0)")
		if err != nil {
			return err
		}
		defer insert.Close()
		update, err := tx.PrepareContext(ctx, "UPDATE users SET password_hash = ?, disabled = ?, claims = ? WHERE name = ?")
		if err != nil {
			return err
		}
		defer update.Close()
		for _, in := range users {
			if in.User.Name == "" || in.User.ID == "" {
				return errors.New("empty name or id")
			}
			var existing *store.User
			u, err := scanUser(get.QueryRowContext(ctx, in.User.Name))
			switch {
			case err == nil:
				existing = &u
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			next, res := store.PlanImport(existing, in, opts.Overwrite)
			claims, err := encodeClaims(next.Claims)
			if err != nil {
				return err
			}
			switch action := res.Action; {
			case opts.DryRun:
			case action == store.ImportCreated:
				_, err = insert.ExecContext(ctx, next.ID, next.Name, next.PasswordHash, next.Disabled, claims, micros(next.Created))
				if isConstraint(err) {
					err = fmt.Errorf("user %s: id: %w", next.Name, store.ErrAlreadyExists)
				}
			case action == store.ImportUpdated:
				_, err = update.ExecContext(ctx, next.PasswordHash, next.Disabled, claims, next.Name)
			}
			if err != nil {
				return err
			}
			results = append(results, res)
		}
		if opts.DryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return results, nil
}
