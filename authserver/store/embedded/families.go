package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

const familyColumns = "id, user_id, client_id, scope, claims, created, last_used, idle_ttl, expires_at, " +
	"generation, current_hash, previous_hash, sealed_next, rotation_scope, credential_version"

// CreateFamily stores a new family; store.ErrAlreadyExists if f.ID is
// taken by a family still live at f.Created, store.ErrStaleCredentials if
// its user is gone, disabled or has a newer credential version. It prunes
// what has expired at f.Created first.
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
	rotationScope, err := encodeRotationScope(f.RotationScope)
	if err != nil {
		return fmt.Errorf("create family: %w", err)
	}
	return s.write(ctx, "create family", func(tx *sql.Tx) error {
		if err := prune(ctx, tx, f.Created); err != nil {
			return err
		}
		var (
			version  int64
			disabled bool
		)
		err := tx.QueryRowContext(ctx, "SELECT credential_version, disabled FROM users WHERE id = ?", f.UserID).
			Scan(&version, &disabled)
		if errors.Is(err, sql.ErrNoRows) || err == nil && (disabled || uint64(version) > f.CredentialVersion) {
			return fmt.Errorf("family of user %s: %w", f.UserID, store.ErrStaleCredentials)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO families ("+familyColumns+", expiry, prune_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			f.ID, f.UserID, f.ClientID, string(scope), claims, micros(f.Created), micros(f.LastUsed), int64(f.IdleTTL),
			micros(f.ExpiresAt), int64(f.Generation), f.CurrentHash, f.PreviousHash, f.SealedNext, rotationScope,
			int64(f.CredentialVersion), micros(f.Expiry()), micros(f.Expiry()))
		if isConstraint(err) {
			return store.ErrAlreadyExists
		}
		return err
	})
}

// GetFamily returns the family id if it is live at now, or
// store.ErrNotFound. A family whose user's credentials changed since its
// login is not live (the change deleted it in the same transaction; this
// is the second line of defence).
func (s *Store) GetFamily(ctx context.Context, id string, now time.Time) (store.Family, error) {
	row, err := getFamily(ctx, s.getFamily, id, now)
	if err == nil && !row.current {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Family{}, wrap("get family", err)
	}
	return row.Family, nil
}

// getFamilyQuery selects a family live at ? (the second argument) with its
// user's credentials, for getFamily.
var getFamilyQuery = "SELECT " + prefixed("f.", familyColumns) +
	", f.prune_after, u.credential_version, u.disabled FROM families f LEFT JOIN users u ON u.id = f.user_id" +
	" WHERE f.id = ? AND f.expiry > ?"

// familyRow is a family as getFamily reads it.
type familyRow struct {
	store.Family
	// current: its user exists, is enabled and has the family's
	// credential version.
	current bool
	// pruneAfter is the indexed column that Prune looks families up by
	// (Unix microseconds): a lower bound of the family's expiry, which
	// most rotations leave alone (see pruneAfterMigration).
	pruneAfter int64
}

// getFamily returns the family id if it has not expired at now. stmt is
// Store.getFamily or its transaction's copy.
func getFamily(ctx context.Context, stmt *sql.Stmt, id string, now time.Time) (familyRow, error) {
	var (
		row      familyRow
		version  sql.NullInt64
		disabled sql.NullBool
		err      error
	)
	row.Family, err = scanFamily(stmt.QueryRowContext(ctx, id, micros(now)), &row.pruneAfter, &version, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return familyRow{}, store.ErrNotFound
	}
	if err != nil {
		return familyRow{}, err
	}
	row.current = version.Valid && !disabled.Bool && uint64(version.Int64) <= row.CredentialVersion
	return row, nil
}

// pruneAfterMigration moves Prune's index off a family's expiry, which
// every rotation of a family with an idle lifetime changes (an index
// update, a fifth of a redemption's work), onto prune_after: a lower bound
// of the expiry that a rotation moves up to the expiry only once it is
// due within half the idle lifetime. Prune deletes the families whose
// prune_after and expiry have both passed.
const pruneAfterMigration = `
ALTER TABLE families ADD COLUMN prune_after INTEGER NOT NULL DEFAULT 0;
UPDATE families SET prune_after = expiry;
DROP INDEX families_expiry;
CREATE INDEX families_prune_after ON families (prune_after);
`

// rotateQuery writes a rotation, for Redeem; rotatePruneAfterQuery also
// moves prune_after up.
const (
	rotateSet = `UPDATE families SET generation = ?, current_hash = ?, previous_hash = ?,
	sealed_next = ?, rotation_scope = ?, last_used = ?, expiry = ?`
	rotateQuery           = rotateSet + ` WHERE id = ?`
	rotatePruneAfterQuery = rotateSet + `, prune_after = ? WHERE id = ?`
)

// prefixed returns the comma-separated columns with prefix before each.
func prefixed(prefix, columns string) string {
	return prefix + strings.ReplaceAll(columns, ", ", ", "+prefix)
}

// Redeem performs one refresh in one write transaction: the family is
// read with its user's credentials (a stale family is deleted and is
// store.ErrNotFound), and store.Decide says what to do. A previous token
// is replayed while r.Now < LastUsed + r.Grace, so a grace of 0 never
// replays.
func (s *Store) Redeem(ctx context.Context, r store.Redemption) (store.Redeemed, error) {
	var (
		res   store.Redeemed
		stale bool
	)
	err := s.write(ctx, "redeem refresh token", func(tx *sql.Tx) error {
		row, err := getFamily(ctx, tx.StmtContext(ctx, s.getFamily), r.FamilyID, r.Now)
		if err != nil {
			return err
		}
		f := row.Family
		if !row.current {
			// Commit the deletion: an error would roll it back.
			stale = true
			_, err := tx.ExecContext(ctx, "DELETE FROM families WHERE id = ?", f.ID)
			return err
		}
		res = store.Decide(f, r)
		switch res.Outcome {
		case store.Rotated:
			// As it will read back: times are kept to the microsecond.
			res.Family.LastUsed = fromMicros(micros(res.Family.LastUsed))
			var rotationScope any
			if rotationScope, err = encodeRotationScope(res.Family.RotationScope); err != nil {
				return err
			}
			expiry := micros(res.Family.Expiry())
			args := []any{int64(res.Family.Generation), res.Family.CurrentHash, res.Family.PreviousHash,
				res.Family.SealedNext, rotationScope, micros(res.Family.LastUsed), expiry}
			stmt := s.rotate
			if row.pruneAfter < micros(r.Now.Add(f.IdleTTL/2)) {
				stmt, args = s.rotatePruneAfter, append(args, expiry)
			}
			_, err = tx.StmtContext(ctx, stmt).ExecContext(ctx, append(args, f.ID)...)
		case store.Reused:
			_, err = tx.ExecContext(ctx, "DELETE FROM families WHERE id = ?", f.ID)
		}
		return err
	})
	if err != nil {
		return store.Redeemed{}, err
	}
	if stale {
		return store.Redeemed{}, fmt.Errorf("redeem refresh token: family %s of stale credentials: %w", r.FamilyID, store.ErrNotFound)
	}
	return res, nil
}

// encodeRotationScope returns the stored form of a rotation's scope: NULL
// for none, else a JSON array.
func encodeRotationScope(scope []string) (any, error) {
	if len(scope) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(scope)
	if err != nil {
		return nil, fmt.Errorf("encode rotation scope: %w", err)
	}
	return string(b), nil
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

// scanFamily reads the familyColumns of row, then extra.
func scanFamily(row scanner, extra ...any) (store.Family, error) {
	var (
		f                                     store.Family
		scope, claims                         string
		rotationScope                         sql.NullString
		created, lastUsed, idleTTL, expiresAt int64
		generation, version                   int64
	)
	err := row.Scan(append([]any{&f.ID, &f.UserID, &f.ClientID, &scope, &claims, &created, &lastUsed, &idleTTL,
		&expiresAt, &generation, &f.CurrentHash, &f.PreviousHash, &f.SealedNext, &rotationScope, &version}, extra...)...)
	if err != nil {
		return store.Family{}, err
	}
	if rotationScope.Valid {
		if err := json.Unmarshal([]byte(rotationScope.String), &f.RotationScope); err != nil {
			return store.Family{}, fmt.Errorf("decode rotation scope: %w", err)
		}
	}
	f.CredentialVersion = uint64(version)
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
