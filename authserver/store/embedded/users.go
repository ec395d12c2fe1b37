package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/oauthkit/authserver/authserver/store"
)

const userColumns = "id, name, password_hash, disabled, claims, created, credential_version"

// CreateUser adds u; store.ErrAlreadyExists if its name or id is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if u.Name == "" || u.ID == "" {
		return errors.New("create user: empty name or id")
	}
	claims, err := encodeClaims(u.Claims)
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return s.write(ctx, "create user", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO users ("+userColumns+") VALUES (?, ?, ?, ?, ?, ?, 0)",
			u.ID, u.Name, u.PasswordHash, u.Disabled, claims, micros(u.Created))
		if isConstraint(err) {
			return store.ErrAlreadyExists
		}
		return err
	})
}

// GetUser returns the user named name, or store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, name string) (store.User, error) {
	return s.getUser(ctx, "get user", "SELECT "+userColumns+" FROM users WHERE name = ?", name)
}

// getUser returns the one user that query selects with arg, or
// store.ErrNotFound; its errors start with op.
func (s *Store) getUser(ctx context.Context, op, query string, arg any) (store.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, query, arg))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.User{}, wrap(op, err)
	}
	return u, nil
}

// ListUsers returns every user ordered by name (byte order).
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	return s.queryUsers(ctx, "SELECT "+userColumns+" FROM users ORDER BY name")
}

// queryUsers returns the users that query selects (userColumns, in its
// order).
func (s *Store) queryUsers(ctx context.Context, query string, args ...any) ([]store.User, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap("list users", err)
	}
	defer rows.Close()
	users := []store.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("list users", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list users", err)
	}
	return users, nil
}

// SetPassword replaces the password hash of the named user, raises its
// credential version and revokes its families, in one write transaction;
// store.ErrNotFound if there is none.
func (s *Store) SetPassword(ctx context.Context, name, passwordHash string) (int, error) {
	return s.SetPasswordIf(ctx, name, passwordHash, nil)
}

// SetPasswordIf is SetPassword if check passes the user, read in the same
// transaction.
func (s *Store) SetPasswordIf(ctx context.Context, name, passwordHash string, check func(store.User) error) (int, error) {
	return s.changeUser(ctx, "set password", name, check,
		"UPDATE users SET password_hash = ?, credential_version = credential_version + 1 WHERE name = ? RETURNING id",
		passwordHash, name)
}

// UpgradePasswordHash replaces the named user's password hash with newHash
// if it is still oldHash; otherwise it does nothing.
func (s *Store) UpgradePasswordHash(ctx context.Context, name, oldHash, newHash string) error {
	return s.write(ctx, "upgrade password hash", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = ? WHERE name = ? AND password_hash = ?",
			newHash, name, oldHash)
		return err
	})
}

// SetDisabled disables or enables the named user, raises its credential
// version and revokes its families, in one write transaction (an enabled
// user has none that a login could still use: they were revoked when it
// was disabled); store.ErrNotFound if there is none.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) (int, error) {
	return s.SetDisabledIf(ctx, name, disabled, nil)
}

// SetDisabledIf is SetDisabled if check passes the user, read in the same
// transaction.
func (s *Store) SetDisabledIf(ctx context.Context, name string, disabled bool, check func(store.User) error) (int, error) {
	return s.changeUser(ctx, "set user disabled", name, check,
		"UPDATE users SET disabled = ?, credential_version = credential_version + 1 WHERE name = ? RETURNING id",
		disabled, name)
}

// DeleteUser removes the named user and its families in one write
// transaction; store.ErrNotFound if there is none.
func (s *Store) DeleteUser(ctx context.Context, name string) (int, error) {
	return s.DeleteUserIf(ctx, name, nil)
}

// DeleteUserIf is DeleteUser if check passes the user, read in the same
// transaction.
func (s *Store) DeleteUserIf(ctx context.Context, name string, check func(store.User) error) (int, error) {
	return s.changeUser(ctx, "delete user", name, check, "DELETE FROM users WHERE name = ? RETURNING id", name)
}

// checkUser reads the named user in tx and returns it if check accepts
// it; store.ErrNotFound if there is no such user, check's error if not.
func checkUser(ctx context.Context, tx *sql.Tx, name string, check func(store.User) error) (store.User, error) {
	u, err := scanUser(tx.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, store.ErrNotFound
	}
	if err != nil {
		return store.User{}, err
	}
	if err := check(u); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// changeUser runs query, which changes at most the user named name and
// returns its id, then deletes the families of that user, in one
// transaction; with a check, it first reads the user and calls check,
// whose error ends the transaction with no change. A login that read the
// user before the change either created its family before this
// transaction (deleted here) or creates it after, when CreateFamily sees
// the new credential version. It reports store.ErrNotFound if there is no
// such user, and otherwise how many families it deleted.
func (s *Store) changeUser(ctx context.Context, op, name string, check func(store.User) error, query string, args ...any) (int, error) {
	var n int64
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		if check != nil {
			if _, err := checkUser(ctx, tx, name, check); err != nil {
				return err
			}
		}
		var id string
		err := tx.QueryRowContext(ctx, query, args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM families WHERE user_id = ?", id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanUser(row scanner) (store.User, error) {
	var (
		u       store.User
		claims  string
		created int64
	)
	var version int64
	if err := row.Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Disabled, &claims, &created, &version); err != nil {
		return store.User{}, err
	}
	var err error
	if u.Claims, err = decodeClaims(claims); err != nil {
		return store.User{}, err
	}
	u.Created = fromMicros(created)
	u.CredentialVersion = uint64(version)
	return u, nil
}

func encodeClaims(claims map[string]string) (string, error) {
	if len(claims) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	return string(b), nil
}

// decodeClaims returns nil for no claims, as they were most likely given.
func decodeClaims(s string) (map[string]string, error) {
	var claims map[string]string
	if err := json.Unmarshal([]byte(s), &claims); err != nil {
		return nil, fmt.Errorf("decode claims: %w", err)
	}
	if len(claims) == 0 {
		return nil, nil
	}
	return claims, nil
}
