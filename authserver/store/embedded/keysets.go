package embedded

import (
	"context"
	"database/sql"
	"errors"
)

// LoadKeySet returns the stored key set and its version; nil and 0 when
// none was ever stored.
func (s *Store) LoadKeySet(ctx context.Context) ([]byte, int64, error) {
	var (
		data    []byte
		version int64
	)
	err := s.db.QueryRowContext(ctx, "SELECT data, version FROM key_set WHERE id = 1").Scan(&data, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, wrap("load key set", err)
	}
	if data == nil {
		data = []byte{}
	}
	return data, version, nil
}

// SwapKeySet stores data as version+1 if version is still the stored one
// (0: none stored). Otherwise it stores nothing and returns the stored
// version and false.
func (s *Store) SwapKeySet(ctx context.Context, version int64, data []byte) (int64, bool, error) {
	if data == nil {
		data = []byte{}
	}
	var (
		current int64
		swapped bool
	)
	err := s.write(ctx, "swap key set", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT version FROM key_set WHERE id = 1").Scan(&current)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if current != version {
			return nil
		}
		current++
		swapped = true
		_, err = tx.ExecContext(ctx, `INSERT INTO key_set (id, version, data) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET version = excluded.version, data = excluded.data`, current, data)
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return current, swapped, nil
}
