package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// idempotencyMigration adds the records of the admin API's
// Idempotency-Key (store.IdempotencyKeys). Users need no migration: their
// name is the primary key, so a page of users is a range of that index,
// and their id is UNIQUE, so indexed too.
const idempotencyMigration = `
CREATE TABLE idempotency (
	key          TEXT PRIMARY KEY,
	fingerprint  TEXT NOT NULL,
	status       INTEGER NOT NULL, -- 0 while the first request is under way
	content_type TEXT NOT NULL,
	location     TEXT NOT NULL,
	body         BLOB,
	expires      INTEGER NOT NULL
);
CREATE INDEX idempotency_expires ON idempotency (expires);
`

// idempotencyETagMigration keeps the ETag header of an answer, which its
// replays carry too.
const idempotencyETagMigration = `
ALTER TABLE idempotency ADD COLUMN etag TEXT NOT NULL DEFAULT '';
`

// GetUserByID returns the user whose id is id, or store.ErrNotFound.
func (s *Store) GetUserByID(ctx context.Context, id string) (store.User, error) {
	return s.getUser(ctx, "get user by id", "SELECT "+userColumns+" FROM users WHERE id = ?", id)
}

// listUsersAfterQuery reads one page of users: a range of the primary key
// (TestListUsersAfterUsesIndex holds it to that).
const listUsersAfterQuery = "SELECT " + userColumns + " FROM users WHERE name > ? ORDER BY name LIMIT ?"

// ListUsersAfter returns at most limit users named after after, ordered
// by name: a range of the primary key.
func (s *Store) ListUsersAfter(ctx context.Context, after string, limit int) ([]store.User, error) {
	return s.queryUsers(ctx, listUsersAfterQuery, after, limit)
}

// UpdateClaims checks and replaces the claims of the named user in one
// write transaction.
func (s *Store) UpdateClaims(ctx context.Context, name string, claims map[string]string, check func(store.User) error) (store.User, error) {
	enc, err := encodeClaims(claims)
	if err != nil {
		return store.User{}, fmt.Errorf("update claims: %w", err)
	}
	var u store.User
	err = s.write(ctx, "update claims", func(tx *sql.Tx) error {
		var err error
		if u, err = checkUser(ctx, tx, name, check); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE users SET claims = ? WHERE name = ?", enc, name)
		return err
	})
	if err != nil {
		return store.User{}, err
	}
	u.Claims, _ = decodeClaims(enc)
	return u, nil
}

// ReserveIdempotencyKey inserts rec unless a live record of its key
// exists, in one write transaction.
func (s *Store) ReserveIdempotencyKey(ctx context.Context, rec store.IdempotencyRecord, now time.Time) (store.IdempotencyRecord, bool, error) {
	var (
		existing store.IdempotencyRecord
		reserved bool
	)
	err := s.write(ctx, "reserve idempotency key", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM idempotency WHERE expires <= ?", micros(now)); err != nil {
			return err
		}
		var expires int64
		err := tx.QueryRowContext(ctx, "SELECT fingerprint, status, content_type, location, etag, body, expires FROM idempotency WHERE key = ?", rec.Key).
			Scan(&existing.Fingerprint, &existing.Status, &existing.ContentType, &existing.Location, &existing.ETag, &existing.Body, &expires)
		if err == nil {
			existing.Key, existing.Expires = rec.Key, fromMicros(expires)
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		reserved = true
		_, err = tx.ExecContext(ctx, "INSERT INTO idempotency (key, fingerprint, status, content_type, location, body, expires) VALUES (?, ?, 0, '', '', NULL, ?)",
			rec.Key, rec.Fingerprint, micros(rec.Expires))
		return err
	})
	if err != nil {
		return store.IdempotencyRecord{}, false, err
	}
	return existing, reserved, nil
}

// CompleteIdempotencyKey stores the answer of a reserved key.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, rec store.IdempotencyRecord) error {
	return s.write(ctx, "complete idempotency key", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO idempotency (key, fingerprint, status, content_type, location, etag, body, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			rec.Key, rec.Fingerprint, rec.Status, rec.ContentType, rec.Location, rec.ETag, rec.Body, micros(rec.Expires))
		return err
	})
}

// ReleaseIdempotencyKey deletes the record of key.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, key string) error {
	return s.write(ctx, "release idempotency key", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM idempotency WHERE key = ?", key)
		return err
	})
}
