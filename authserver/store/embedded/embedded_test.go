package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		return openTemp(t, filepath.Join(t.TempDir(), "a.db"))
	})
}

func TestTwoProcessRedeem(t *testing.T) {
	storetest.RunTwoProcessRedeem(t, func(dir string) (store.Store, error) {
		return Open(filepath.Join(dir, "a.db"))
	})
}

func openTemp(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "authserver.db")
	now := time.Now().UTC().Truncate(time.Second)
	user := store.User{ID: "u-1", Name: "alice", PasswordHash: "$argon2id$x", Claims: map[string]string{"k": "v"}, Created: now}
	fam := store.Family{
		ID: "f-1", UserID: "u-1", ClientID: "app", Scope: []string{"profile"}, Created: now, LastUsed: now,
		IdleTTL: time.Hour, ExpiresAt: now.Add(24 * time.Hour), CurrentHash: []byte("hash-0"),
	}

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	steps := []error{
		s.CreateUser(ctx, user),
		s.CreateFamily(ctx, fam),
		func() error { _, _, err := s.SwapKeySet(ctx, 0, []byte("keys")); return err }(),
		func() error { _, _, err := s.AddFailure(ctx, "user:alice", now, time.Hour); return err }(),
		s.RevokeToken(ctx, "jti-1", now.Add(time.Hour)),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openTemp(t, path)
	if got, err := s.GetUser(ctx, "alice"); err != nil || got.ID != user.ID {
		t.Errorf("GetUser after reopen = %+v, %v", got.ID, err)
	}
	if got, err := s.GetFamily(ctx, "f-1", now); err != nil || !bytes.Equal(got.CurrentHash, fam.CurrentHash) {
		t.Errorf("GetFamily after reopen: %v", err)
	}
	if data, version, err := s.LoadKeySet(ctx); err != nil || string(data) != "keys" || version != 1 {
		t.Errorf("LoadKeySet after reopen = %q, %d, %v", data, version, err)
	}
	if count, _, err := s.Failures(ctx, "user:alice", now); err != nil || count != 1 {
		t.Errorf("Failures after reopen = %d, %v", count, err)
	}
	if revoked, err := s.IsRevoked(ctx, "jti-1", now); err != nil || !revoked {
		t.Errorf("IsRevoked after reopen = %t, %v", revoked, err)
	}
}

func TestOpenPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "authserver.db")
	s := openTemp(t, path)
	if err := s.CreateUser(context.Background(), store.User{ID: "u-1", Name: "alice"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	tests := []struct {
		name string
		path string
		want os.FileMode
	}{
		{"directory", dir, 0o700 | os.ModeDir},
		{"database", path, 0o600},
		{"wal", path + "-wal", 0o600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fi, err := os.Stat(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != tc.want {
				t.Fatalf("mode = %v, want %v", fi.Mode(), tc.want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	s := openTemp(t, newer)
	if _, err := s.db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	notDB := filepath.Join(dir, "not.db")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("not a database "), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"empty-path", ""},
		{"question-mark", filepath.Join(dir, "a?.db")},
		{"newer-schema", newer},
		{"not-a-database", notDB},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
		})
	}
}

// TestWriteLockHeld checks that a write that cannot get the write lock,
// held by another connection, fails once the busy timeout or its context
// ends, rather than hanging, and that reads go on meanwhile.
func TestWriteLockHeld(t *testing.T) {
	tests := []struct {
		name    string
		busy    time.Duration
		ctxWait time.Duration
		want    error
	}{
		{"busy-timeout", 100 * time.Millisecond, time.Minute, store.ErrUnavailable},
		{"context-deadline", time.Minute, 100 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "a.db")
			s, err := open(path, tc.busy)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer s.Close()
			if err := s.CreateUser(ctx, store.User{ID: "u-1", Name: "alice"}); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}

			other, err := sql.Open("sqlite", dsn(path, busyTimeout))
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			tx, err := other.Begin()
			if err != nil {
				t.Fatalf("take the write lock: %v", err)
			}
			defer tx.Rollback()

			if _, err := s.GetUser(ctx, "alice"); err != nil {
				t.Fatalf("GetUser while the lock is held: %v", err)
			}
			wctx, cancel := context.WithTimeout(ctx, tc.ctxWait)
			defer cancel()
			if _, err := s.SetDisabled(wctx, "alice", true); !errors.Is(err, tc.want) {
				t.Fatalf("SetDisabled while the lock is held: error = %v, want %v", err, tc.want)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SetDisabled(ctx, "alice", true); err != nil {
				t.Fatalf("SetDisabled after the lock is released: %v", err)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, filepath.Join(t.TempDir(), "a.db"))
	now := time.Now().UTC().Truncate(time.Second)
	if err := s.CreateUser(ctx, store.User{ID: "u-1", Name: "alice", PasswordHash: "$argon2id$x", Created: now}); err != nil {
		t.Fatal(err)
	}
	for i, ttl := range []time.Duration{time.Minute, time.Hour} {
		f := store.Family{
			ID: fmt.Sprintf("f-%d", i), UserID: "u-1", ClientID: "app", Created: now, LastUsed: now,
			IdleTTL: ttl, ExpiresAt: now.Add(24 * time.Hour), CurrentHash: []byte("h"),
		}
		if err := s.CreateFamily(ctx, f); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeToken(ctx, f.ID, now.Add(ttl)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.AddFailure(ctx, f.ID, now, ttl); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Prune(ctx, now.Add(time.Minute)); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	for _, table := range []string{"families", "revoked_tokens", "lockouts"} {
		var n int
		if err := s.db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s has %d rows after Prune, want 1", table, n)
		}
	}
}

func BenchmarkRedeem(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "a.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC()
	hash := func(gen int) []byte {
		h := sha256.Sum256(fmt.Appendf(nil, "token-%d", gen))
		return h[:]
	}
	f := store.Family{
		ID: "f-1", UserID: "u-1", ClientID: "app", Scope: []string{"profile"}, Created: now, LastUsed: now,
		IdleTTL: time.Hour, ExpiresAt: now.Add(24 * time.Hour), CurrentHash: hash(0),
	}
	if err := s.CreateUser(ctx, store.User{ID: f.UserID, Name: "alice", PasswordHash: "$argon2id$x", Created: now}); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateFamily(ctx, f); err != nil {
		b.Fatal(err)
	}
	sealedNext := bytes.Repeat([]byte{0xa5}, 600) // about a sealed token response
	gen := 0
	for b.Loop() {
		r := store.Redemption{
			FamilyID: f.ID, ClientID: f.ClientID, Generation: uint32(gen), PresentedHash: hash(gen),
			NewHash: hash(gen + 1), SealedNext: sealedNext, Now: now, Grace: 10 * time.Second,
		}
		got, err := s.Redeem(ctx, r)
		if err != nil || got.Outcome != store.Rotated {
			b.Fatalf("Redeem generation %d = %v, %v", gen, got.Outcome, err)
		}
		gen++
	}
}
