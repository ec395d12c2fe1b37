package embedded

import (
	"context"
	"database/sql"
	"errors"
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
	db, err := sql.Open("sqlite", dsn(path, busyTimeout))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		migrations[0],
		"PRAGMA user_version = 1",
		"INSERT INTO users VALUES ('alice', 'u-1', '$argon2id$x', 0, '{}', 0)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	_, err = db.Exec("INSERT INTO families VALUES ('f-1', 'u-1', 'app', '[]', '{}', ?, ?, ?, ?, ?, 0, X'01', NULL, NULL)",
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
