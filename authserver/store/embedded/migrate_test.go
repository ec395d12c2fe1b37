package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// TestMigrateCredentialVersion opens a file of schema version 1, written
// before credential versions existed, with a user and a live family: the
// family keeps working at version 0, and a password change then revokes
// it and refuses a login that read the user before.
func TestMigrateCredentialVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	now := time.Now().UTC().Truncate(time.Second)
	db := oldFile(t, path, 1, "INSERT INTO users VALUES ('alice', 'u-1', '$argon2id$x', 0, '{}', 0)")
	_, err := db.Exec("INSERT INTO families VALUES ('f-1', 'u-1', 'app', '[]', '{}', ?, ?, ?, ?, ?, 0, X'01', NULL, NULL)",
		micros(now), micros(now), int64(time.Hour), micros(now.Add(24*time.Hour)), micros(now.Add(time.Hour)))
	if err != nil {
		t.Fatalf("insert family: %v", err)
	}
	db.Close()

	s := openTemp(t, path)
	u, err := s.GetUser(ctx, "alice")
	if err != nil || u.CredentialVersion != 0 {
		t.Fatalf("GetUser after migration = version %d, %v; want 0", u.CredentialVersion, err)
	}
	got, err := s.Redeem(ctx, store.Redemption{FamilyID: "f-1", ClientID: "app", PresentedHash: []byte{1},
		NewHash: []byte{2}, Now: now.Add(time.Second)})
	if err != nil || got.Outcome != store.Rotated {
		t.Fatalf("Redeem of a family from before the migration = %v, %v; want rotated", got.Outcome, err)
	}
	if n, err := s.SetPassword(ctx, "alice", "$argon2id$y"); err != nil || n != 1 {
		t.Fatalf("SetPassword = %d, %v; want 1 family revoked", n, err)
	}
	stale := store.Family{ID: "f-2", UserID: "u-1", ClientID: "app", Created: now, LastUsed: now,
		IdleTTL: time.Hour, ExpiresAt: now.Add(time.Hour), CurrentHash: []byte{3}}
	if err := s.CreateFamily(ctx, stale); !errors.Is(err, store.ErrStaleCredentials) {
		t.Fatalf("CreateFamily of a login before the change: %v, want ErrStaleCredentials", err)
	}
}

// TestRedeemChecksCredentials checks Redeem's second line of defence: a
// family whose user has a newer credential version, is disabled or is
// gone (here made so behind the store's back, as no store call can) is
// not found, and is deleted.
func TestRedeemChecksCredentials(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	for name, query := range map[string]string{
		"newer-version": "UPDATE users SET credential_version = 1",
		"disabled":      "UPDATE users SET disabled = 1",
		"gone":          "DELETE FROM users",
	} {
		t.Run(name, func(t *testing.T) {
			s := openTemp(t, filepath.Join(t.TempDir(), "a.db"))
			if err := s.CreateUser(ctx, store.User{ID: "u-1", Name: "alice", PasswordHash: "$argon2id$x", Created: now}); err != nil {
				t.Fatal(err)
			}
			f := store.Family{ID: "f-1", UserID: "u-1", ClientID: "app", Created: now, LastUsed: now,
				IdleTTL: time.Hour, ExpiresAt: now.Add(time.Hour), CurrentHash: []byte{1}}
			if err := s.CreateFamily(ctx, f); err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.Exec(query); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetFamily(ctx, f.ID, now); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("GetFamily: %v, want ErrNotFound", err)
			}
			_, err := s.Redeem(ctx, store.Redemption{FamilyID: f.ID, ClientID: "app", PresentedHash: []byte{1},
				NewHash: []byte{2}, Now: now})
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Redeem: %v, want ErrNotFound", err)
			}
			var n int
			if err := s.db.QueryRow("SELECT count(*) FROM families").Scan(&n); err != nil || n != 0 {
				t.Fatalf("%d families left after Redeem, %v; want the stale one deleted", n, err)
			}
		})
	}
}

// TestPruneAfter checks the index that Prune uses: a rotation leaves a
// family's prune_after behind its expiry until it is due within half the
// idle lifetime, Prune keeps a family that is live although its
// prune_after has passed and deletes it once its expiry has passed too,
// and a file from before the column gets it from its families' expiry.
func TestPruneAfter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	t0 := time.Now().UTC().Truncate(time.Second)
	db := oldFile(t, path, len(migrations)-1,
		"INSERT INTO users (name, id, password_hash, disabled, claims, created) VALUES ('alice', 'u-1', '$argon2id$x', 0, '{}', 0)")
	for i, expiry := range []time.Duration{time.Hour, 2 * time.Hour} {
		_, err := db.Exec("INSERT INTO families ("+familyColumns+", expiry) VALUES (?, 'u-1', 'app', '[]', '{}', ?, ?, ?, ?, 0, X'01', NULL, NULL, NULL, 0, ?)",
			fmt.Sprintf("old-%d", i), micros(t0), micros(t0), int64(expiry), micros(t0.Add(24*time.Hour)), micros(t0.Add(expiry)))
		if err != nil {
			t.Fatalf("insert family: %v", err)
		}
	}
	db.Close()

	s := openTemp(t, path)
	pruneAfter := func(id string) time.Time {
		t.Helper()
		var v int64
		if err := s.db.QueryRow("SELECT prune_after FROM families WHERE id = ?", id).Scan(&v); err != nil {
			t.Fatalf("prune_after of %s: %v", id, err)
		}
		return fromMicros(v)
	}
	live := func(at time.Time, want ...string) {
		t.Helper()
		if err := s.Prune(ctx, at); err != nil {
			t.Fatal(err)
		}
		var got []string
		rows, err := s.db.Query("SELECT id FROM families ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			rows.Scan(&id)
			got = append(got, id)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("families after Prune at t0+%v: %v, want %v", at.Sub(t0), got, want)
		}
	}
	if got := pruneAfter("old-0"); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("migrated prune_after = t0+%v, want t0+1h (the expiry)", got.Sub(t0))
	}
	live(t0.Add(90*time.Minute), "old-1")

	f := store.Family{ID: "f", UserID: "u-1", ClientID: "app", Created: t0, LastUsed: t0,
		IdleTTL: time.Hour, ExpiresAt: t0.Add(24 * time.Hour), CurrentHash: []byte{0}}
	if err := s.CreateFamily(ctx, f); err != nil {
		t.Fatal(err)
	}
	redeem := func(gen uint32, at time.Duration) {
		t.Helper()
		got, err := s.Redeem(ctx, store.Redemption{FamilyID: "f", ClientID: "app", Generation: gen,
			PresentedHash: []byte{byte(gen)}, NewHash: []byte{byte(gen + 1)}, Now: t0.Add(at)})
		if err != nil || got.Outcome != store.Rotated {
			t.Fatalf("Redeem at t0+%v = %v, %v", at, got.Outcome, err)
		}
	}
	redeem(0, 10*time.Minute) // expiry t0+70m; prune_after t0+60m is not due by t0+40m
	if got := pruneAfter("f"); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("prune_after after a rotation = t0+%v, want t0+1h (unchanged)", got.Sub(t0))
	}
	live(t0.Add(65*time.Minute), "f", "old-1") // prune_after passed, expiry not
	redeem(1, 66*time.Minute)                  // due: moves up to the expiry, t0+126m
	if got := pruneAfter("f"); !got.Equal(t0.Add(126 * time.Minute)) {
		t.Fatalf("prune_after after a rotation when due = t0+%v, want t0+126m", got.Sub(t0))
	}
	live(t0.Add(80*time.Minute), "f", "old-1")
	redeem(2, 90*time.Minute) // expiry t0+150m; prune_after t0+126m is not due by t0+120m
	if got := pruneAfter("f"); !got.Equal(t0.Add(126 * time.Minute)) {
		t.Fatalf("prune_after = t0+%v, want t0+126m (unchanged)", got.Sub(t0))
	}
	live(t0.Add(149*time.Minute), "f")
	live(t0.Add(150 * time.Minute))
}

// oldFile creates a file at path of schema version, as a binary of that
// version would have, runs stmts on it and returns it open.
func oldFile(t *testing.T, path string, version int, stmts ...string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, busyTimeout))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(migrations[:version:version], append([]string{fmt.Sprintf("PRAGMA user_version = %d", version)}, stmts...)...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	return db
}
