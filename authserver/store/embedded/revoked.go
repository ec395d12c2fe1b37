package embedded

import (
	"context"
	"database/sql"
	"time"
)

// RevokeToken denies jti until until. Revoking a jti again keeps the later
// of the two ends.
func (s *Store) RevokeToken(ctx context.Context, jti string, until time.Time) error {
	return s.write(ctx, "revoke token", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO revoked_tokens (jti, until) VALUES (?, ?)
			ON CONFLICT (jti) DO UPDATE SET until = max(until, excluded.until)`, jti, micros(until))
		return err
	})
}

// IsRevoked reports whether jti is denied at now.
func (s *Store) IsRevoked(ctx context.Context, jti string, now time.Time) (bool, error) {
	var revoked bool
	err := s.db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ? AND until > ?)",
		jti, micros(now)).Scan(&revoked)
	if err != nil {
		return false, wrap("check revoked token", err)
	}
	return revoked, nil
}
