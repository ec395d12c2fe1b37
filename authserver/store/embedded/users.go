package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/oauthkit/authserver/authserver/store"
)

const userColumns = "id, name, password_hash, disabled, claims, created"

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
		_, err := tx.ExecContext(ctx, "INSERT INTO users ("+userColumns+") VALUES (?, ?, ?, ?, ?, ?)",
			u.ID, u.Name, u.PasswordHash, u.Disabled, claims, micros(u.Created))
		if isConstraint(err) {
			return store.ErrAlreadyExists
		}
		return err
	})
}

// GetUser returns the user named name, or store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.User{}, wrap("get user", err)
	}
	return u, nil
}

// ListUsers returns every user ordered by name (byte order).
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY name")
	if err != nil {
		return nil, wrap("list users", err)
	}
	defer rows.Close()
	var users []store.User
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

// SetPassword replaces the password hash of the named user;
// store.ErrNotFound if there is none.
func (s *Store) SetPassword(ctx context.Context, name, passwordHash string) error {
	return s.updateUser(ctx, "set password", "UPDATE users SET password_hash = ? WHERE name = ?", passwordHash, name)
}

// SetDisabled disables or enables the named user; store.ErrNotFound if
// there is none.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) error {
	return s.updateUser(ctx, "set user disabled", "UPDATE users SET disabled = ? WHERE name = ?", disabled, name)
}

// DeleteUser removes the named user; store.ErrNotFound if there is none.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.updateUser(ctx, "delete user", "DELETE FROM users WHERE name = ?", name)
}

// updateUser runs query, which changes at most one user, and reports
// store.ErrNotFound if it changed none.
func (s *Store) updateUser(ctx context.Context, op, query string, args ...any) error {
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
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
	if err := row.Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Disabled, &claims, &created); err != nil {
		return store.User{}, err
	}
	var err error
	if u.Claims, err = decodeClaims(claims); err != nil {
		return store.User{}, err
	}
	u.Created = fromMicros(created)
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
