package embedded

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// AddFailure counts one failure for key at now and returns the count in
// the current window and its end. A window opens at the first failure and
// lasts window; a failure at or after its end opens a new one. It prunes
// what has expired at now first.
func (s *Store) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	var (
		count int
		until int64
	)
	err := s.write(ctx, "add login failure", func(tx *sql.Tx) error {
		if err := prune(ctx, tx, now); err != nil {
			return err
		}
		// Pruning removed the window that ended at or before now.
		return tx.QueryRowContext(ctx, `INSERT INTO lockouts (key, count, until) VALUES (?, 1, ?)
			ON CONFLICT (key) DO UPDATE SET count = count + 1
			RETURNING count, until`, key, micros(now.Add(window))).Scan(&count, &until)
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return count, fromMicros(until), nil
}

// Failures returns the count of the window open at now (0 if none) and
// when it ends.
func (s *Store) Failures(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	var (
		count int
		until int64
	)
	err := s.db.QueryRowContext(ctx, "SELECT count, until FROM lockouts WHERE key = ? AND until > ?",
		key, micros(now)).Scan(&count, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, wrap("get login failures", err)
	}
	return count, fromMicros(until), nil
}

// RefundFailure takes back one failure of the window of key open at now,
// removing the window when none is left, in one transaction.
func (s *Store) RefundFailure(ctx context.Context, key string, now time.Time) error {
	return s.write(ctx, "refund login failure", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE lockouts SET count = count - 1 WHERE key = ? AND until > ? AND count > 0",
			key, micros(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM lockouts WHERE key = ? AND count <= 0", key)
		return err
	})
}

// ResetFailures forgets the failures of key.
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	return s.write(ctx, "reset login failures", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM lockouts WHERE key = ?", key)
		return err
	})
}
