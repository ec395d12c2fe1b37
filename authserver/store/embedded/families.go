package embedded

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

const familyColumns = "id, user_id, client_id, scope, claims, created, last_used, idle_ttl, expires_at, " +
	"generation, current_hash, previous_hash, sealed_next"

// CreateFamily stores a new family; store.ErrAlreadyExists if f.ID is
// taken by a family still live at f.Created. It prunes what has expired
// at f.Created first.
func (s *Store) CreateFamily(ctx context.Context, f store.Family) error {
	if f.ID == "" || len(f.CurrentHash) == 0 {
		return errors.New("create family: empty id or token hash")
	}
	scope, err := json.Marshal(nonNil(f.Scope))
	if err != nil {
		return fmt.Errorf("create family: encode scope: %w", err)
	}
	claims, err := encodeClaims(f.Claims)
	if err != nil {
		return fmt.Errorf("create family: %w", err)
	}
	return s.write(ctx, "create family", func(tx *sql.Tx) error {
		if err := prune(ctx, tx, f.Created); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO families ("+familyColumns+", expiry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			f.ID, f.UserID, f.ClientID, string(scope), claims, micros(f.Created), micros(f.LastUsed), int64(f.IdleTTL),
			micros(f.ExpiresAt), int64(f.Generation), f.CurrentHash, f.PreviousHash, f.SealedNext, micros(f.Expiry()))
		if isConstraint(err) {
			return store.ErrAlreadyExists
		}
		return err
	})
}

// GetFamily returns the family id if it is live at now, or
// store.ErrNotFound.
func (s *Store) GetFamily(ctx context.Context, id string, now time.Time) (store.Family, error) {
	f, err := getFamily(ctx, s.db, id, now)
	if err != nil {
		return store.Family{}, wrap("get family", err)
	}
	return f, nil
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getFamily(ctx context.Context, q querier, id string, now time.Time) (store.Family, error) {
	f, err := scanFamily(q.QueryRowContext(ctx,
		"SELECT "+familyColumns+" FROM families WHERE id = ? AND expiry > ?", id, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Family{}, store.ErrNotFound
	}
	return f, err
}

// Redeem performs one refresh in one write transaction, following the
// rules of store.Families.Redeem. A previous token is replayed while
// r.Now < LastUsed + r.Grace, so a grace of 0 never replays.
func (s *Store) Redeem(ctx context.Context, r store.Redemption) (store.Redeemed, error) {
	var res store.Redeemed
	err := s.write(ctx, "redeem refresh token", func(tx *sql.Tx) error {
		f, err := getFamily(ctx, tx, r.FamilyID, r.Now)
		if err != nil {
			return err
		}
		res = decide(f, r)
		switch res.Outcome {
		case store.Rotated:
			_, err = tx.ExecContext(ctx, `UPDATE families SET generation = ?, current_hash = ?, previous_hash = ?,
				sealed_next = ?, last_used = ?, expiry = ? WHERE id = ?`,
				int64(res.Family.Generation), res.Family.CurrentHash, res.Family.PreviousHash,
				res.Family.SealedNext, micros(res.Family.LastUsed), micros(res.Family.Expiry()), f.ID)
		case store.Reused:
			_, err = tx.ExecContext(ctx, "DELETE FROM families WHERE id = ?", f.ID)
		}
		return err
	})
	if err != nil {
		return store.Redeemed{}, err
	}
	return res, nil
}

// decide applies the rules of store.Families.Redeem, after the first, to
// the live family f. For Rotated it returns the family after rotation.
func decide(f store.Family, r store.Redemption) store.Redeemed {
	if r.ClientID != f.ClientID {
		return store.Redeemed{Outcome: store.Rejected, Reason: store.ReasonWrongClient, Family: f}
	}
	if hashEqual(r.PresentedHash, f.CurrentHash) {
		if !subset(r.Scope, f.Scope) {
			return store.Redeemed{Outcome: store.Rejected, Reason: store.ReasonScope, Family: f}
		}
		next := f
		next.Generation++
		next.PreviousHash = f.CurrentHash
		next.CurrentHash = bytes.Clone(r.NewHash)
		next.SealedNext = bytes.Clone(r.SealedNext)
		// As it will read back: times are kept to the microsecond.
		next.LastUsed = fromMicros(micros(r.Now))
		return store.Redeemed{Outcome: store.Rotated, Family: next}
	}
	previous := hashEqual(r.PresentedHash, f.PreviousHash)
	if previous && r.Now.Before(f.LastUsed.Add(r.Grace)) {
		return store.Redeemed{Outcome: store.Replayed, Family: f}
	}
	if previous || r.Generation < f.Generation {
		return store.Redeemed{Outcome: store.Reused, Family: f}
	}
	return store.Redeemed{Outcome: store.Rejected, Reason: store.ReasonUnknown, Family: f}
}

// hashEqual reports whether the presented hash a is the stored hash b. An
// empty hash matches nothing (a fresh family has no previous hash).
func hashEqual(a, b []byte) bool {
	return len(b) > 0 && subtle.ConstantTimeCompare(a, b) == 1
}

// subset reports whether every scope in requested was granted.
func subset(requested, granted []string) bool {
	for _, s := range requested {
		if !slices.Contains(granted, s) {
			return false
		}
	}
	return true
}

// RevokeFamily deletes a family; no error if it does not exist.
func (s *Store) RevokeFamily(ctx context.Context, id string) error {
	return s.write(ctx, "revoke family", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM families WHERE id = ?", id)
		return err
	})
}

// ListFamilies returns the families of a user live at now, oldest first.
func (s *Store) ListFamilies(ctx context.Context, userID string, now time.Time) ([]store.Family, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+familyColumns+
		" FROM families WHERE user_id = ? AND expiry > ? ORDER BY created, id", userID, micros(now))
	if err != nil {
		return nil, wrap("list families", err)
	}
	defer rows.Close()
	var fs []store.Family
	for rows.Next() {
		f, err := scanFamily(rows)
		if err != nil {
			return nil, wrap("list families", err)
		}
		fs = append(fs, f)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list families", err)
	}
	return fs, nil
}

// RevokeUserFamilies deletes every family of a user and returns how many
// rows it deleted. Having no clock, it counts families that expired since
// the last Prune too.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID string) (int, error) {
	var n int64
	err := s.write(ctx, "revoke user families", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM families WHERE user_id = ?", userID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

func scanFamily(row scanner) (store.Family, error) {
	var (
		f                                     store.Family
		scope, claims                         string
		created, lastUsed, idleTTL, expiresAt int64
		generation                            int64
	)
	err := row.Scan(&f.ID, &f.UserID, &f.ClientID, &scope, &claims, &created, &lastUsed, &idleTTL, &expiresAt,
		&generation, &f.CurrentHash, &f.PreviousHash, &f.SealedNext)
	if err != nil {
		return store.Family{}, err
	}
	if err := json.Unmarshal([]byte(scope), &f.Scope); err != nil {
		return store.Family{}, fmt.Errorf("decode scope: %w", err)
	}
	if len(f.Scope) == 0 {
		f.Scope = nil
	}
	if f.Claims, err = decodeClaims(claims); err != nil {
		return store.Family{}, err
	}
	f.Created, f.LastUsed, f.ExpiresAt = fromMicros(created), fromMicros(lastUsed), fromMicros(expiresAt)
	f.IdleTTL = time.Duration(idleTTL)
	f.Generation = uint32(generation)
	return f, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
