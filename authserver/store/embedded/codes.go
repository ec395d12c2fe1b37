package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// codesMigration adds the authorization codes. A code's fields but its
// hash and family are one JSON document: nothing queries them.
const codesMigration = `
CREATE TABLE auth_codes (
	hash       BLOB PRIMARY KEY,
	data       TEXT NOT NULL,    -- JSON of store.AuthCode
	expires_at INTEGER NOT NULL,
	family_id  TEXT              -- set at the first redemption
);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);
`

// SaveCode stores c until c.ExpiresAt, deleting the codes expired at
// c.AuthTime first.
func (s *Store) SaveCode(ctx context.Context, c store.AuthCode) error {
	if len(c.Hash) == 0 {
		return errors.New("save code: empty hash")
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("save code: %w", err)
	}
	return s.write(ctx, "save code", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM auth_codes WHERE expires_at <= ?", micros(c.AuthTime)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO auth_codes (hash, data, expires_at) VALUES (?, ?, ?)",
			c.Hash, string(data), micros(c.ExpiresAt))
		if isConstraint(err) {
			return store.ErrAlreadyExists
		}
		return err
	})
}

// RedeemCode marks the code used in one write transaction; see
// store.AuthCodes.
func (s *Store) RedeemCode(ctx context.Context, hash []byte, familyID string, now time.Time) (store.AuthCode, error) {
	var c store.AuthCode
	var used bool
	err := s.write(ctx, "redeem code", func(tx *sql.Tx) error {
		var data string
		var family sql.NullString
		err := tx.QueryRowContext(ctx, "SELECT data, family_id FROM auth_codes WHERE hash = ? AND expires_at > ?",
			hash, micros(now)).Scan(&data, &family)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return fmt.Errorf("decode code: %w", err)
		}
		c.Hash = hash
		if family.Valid {
			used, c.FamilyID = true, family.String
			return nil
		}
		c.FamilyID = familyID
		_, err = tx.ExecContext(ctx, "UPDATE auth_codes SET family_id = ? WHERE hash = ?", familyID, hash)
		return err
	})
	if err != nil {
		return store.AuthCode{}, err
	}
	if used {
		return c, store.ErrCodeUsed
	}
	return c, nil
}
