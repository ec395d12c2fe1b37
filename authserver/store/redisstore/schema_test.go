package redisstore_test

import (
	"context"
	"encoding/base64"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/redisstore"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
)

// schemaStore opens a store on the shared Redis under a fresh prefix, and
// a plain client to look at its keys, or to write what the store never
// would.
func schemaStore(t *testing.T) (*redisstore.Store, *redis.Client, string) {
	t.Helper()
	addr := redistest.SharedAddr(t)
	prefix := redistest.Prefix(t)
	redistest.CleanupPrefix(t, []string{addr}, prefix)
	s := openStore(t, redisstore.Options{Addrs: []string{addr}, KeyPrefix: prefix})
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return s, c, prefix
}

// TestKeySchema checks the keys that docs/redis.md documents: their types,
// and that everything but users and the key set expires when its data
// dies, so that nothing grows without bound.
func TestKeySchema(t *testing.T) {
	s, c, p := schemaStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if err := s.CreateUser(ctx, store.User{ID: "u_alice", Name: "alice", PasswordHash: "$argon2id$x", Created: now}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	// A server id (16 bytes, base64url) is named by its bytes; any other
	// id in text.
	raw := "0123456789abcdef"
	server := testFamily(base64.RawURLEncoding.EncodeToString([]byte(raw)), now)
	short, long := testFamily("fam-short", now), testFamily("fam-long", now)
	long.ExpiresAt = now.Add(48 * time.Hour)
	for _, f := range []store.Family{server, short, long} {
		if err := s.CreateFamily(ctx, f); err != nil {
			t.Fatalf("CreateFamily: %v", err)
		}
	}
	rotatedAt := now.Add(time.Minute)
	server, short = rotate(t, s, server, rotatedAt), rotate(t, s, short, rotatedAt)
	if _, _, err := s.SwapKeySet(ctx, 0, []byte("keys")); err != nil {
		t.Fatalf("SwapKeySet: %v", err)
	}
	if _, _, err := s.AddFailure(ctx, "ip:192.0.2.1", now, 15*time.Minute); err != nil {
		t.Fatalf("AddFailure: %v", err)
	}
	if err := s.RevokeToken(ctx, "jti-1", now.Add(10*time.Minute)); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	never := time.Time{}
	graceEnd := rotatedAt.Add(10 * time.Second) // rotate's grace
	tests := []struct {
		key     string
		typ     string
		expires time.Time
	}{
		{p + "users", "set", never},
		{p + "usernames", "zset", never},
		{p + "u:{alice}", "hash", never},
		// The user's id and family index: never expires.
		{p + "uid:{u_alice}", "zset", never},
		{p + "keyset", "hash", never},
		{p + "f" + raw, "string", server.Expiry()},
		{p + "g{" + p + "f" + raw + "}", "string", graceEnd},
		{p + "f{fam-short}", "string", short.Expiry()},
		{p + "f{fam-short}g", "string", graceEnd},
		{p + "f{fam-long}", "string", long.Expiry()},
		{p + "lo:ip:192.0.2.1", "string", now.Add(15 * time.Minute)},
		{p + "rt:jti-1", "string", now.Add(10 * time.Minute)},
	}
	var want []string
	for _, tc := range tests {
		want = append(want, tc.key)
		if typ := c.Type(ctx, tc.key).Val(); typ != tc.typ {
			t.Errorf("TYPE %q = %q, want %q", tc.key, typ, tc.typ)
		}
		ms, err := c.Do(ctx, "PEXPIRETIME", tc.key).Int64()
		if err != nil {
			t.Fatalf("PEXPIRETIME %q: %v", tc.key, err)
		}
		switch {
		case tc.expires.IsZero() && ms != -1:
			t.Errorf("%q expires at %v, want never", tc.key, time.UnixMilli(ms))
		case !tc.expires.IsZero() && ms != tc.expires.UnixMilli():
			t.Errorf("%q expires at %v, want %v", tc.key, time.UnixMilli(ms).UTC(), tc.expires)
		}
	}
	got, err := c.Keys(ctx, p+"*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("keys = %q, want %q", got, want)
	}

	// The index names a server id by its bytes, and scores every family
	// by its absolute deadline in Unix seconds; the name is 0xFF and the
	// name, at +inf.
	index, err := c.ZRangeWithScores(ctx, p+"uid:{u_alice}", 0, -1).Result()
	if err != nil {
		t.Fatalf("ZRANGE: %v", err)
	}
	wantIndex := []redis.Z{
		{Score: float64(server.ExpiresAt.Unix()), Member: "\x00" + raw},
		{Score: float64(short.ExpiresAt.Unix()), Member: "\x00" + short.ID},
		{Score: float64(long.ExpiresAt.Unix()), Member: "\x00" + long.ID},
		{Score: math.Inf(1), Member: "\xffalice"},
	}
	if !slices.Equal(index, wantIndex) {
		t.Errorf("index = %v, want %v", index, wantIndex)
	}
}

// TestUserIndex checks how the per-user family index, which Cluster keeps
// apart from the families, stays correct: entries of gone or foreign
// families are skipped, dead ones are pruned, and a revocation never
// touches another user's family.
func TestUserIndex(t *testing.T) {
	s, c, p := schemaStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)

	mine := testFamily("fam-taken", now)
	if err := s.CreateFamily(ctx, mine); err != nil {
		t.Fatalf("CreateFamily: %v", err)
	}
	// Another user's login that draws a taken id fails, but leaves the id
	// in that user's index.
	foreign := testFamily("fam-taken", now)
	foreign.UserID = "u_mallory"
	if err := s.CreateFamily(ctx, foreign); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateFamily with a taken id: error = %v, want ErrAlreadyExists", err)
	}
	if list, err := s.ListFamilies(ctx, "u_mallory", now); err != nil || len(list) != 0 {
		t.Fatalf("ListFamilies(u_mallory) = %d families, %v; want none", len(list), err)
	}
	if n, err := s.RevokeUserFamilies(ctx, "u_mallory"); err != nil || n != 0 {
		t.Fatalf("RevokeUserFamilies(u_mallory) = %d, %v; want 0", n, err)
	}
	if _, err := s.GetFamily(ctx, mine.ID, now); err != nil {
		t.Fatalf("GetFamily after another user's revocation: %v", err)
	}

	// A revoked family's entry stays, skipped, until its absolute
	// deadline has passed; the next login prunes it then.
	gone := testFamily("fam-gone", now)
	if err := s.CreateFamily(ctx, gone); err != nil {
		t.Fatalf("CreateFamily: %v", err)
	}
	if err := s.RevokeFamily(ctx, gone.ID); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	index := p + "uid:{u_alice}"
	if list, err := s.ListFamilies(ctx, "u_alice", now); err != nil || len(list) != 1 || list[0].ID != mine.ID {
		t.Fatalf("ListFamilies(u_alice) = %v, %v; want only %s", list, err, mine.ID)
	}
	later := testFamily("fam-later", gone.ExpiresAt)
	if err := s.CreateFamily(ctx, later); err != nil {
		t.Fatalf("CreateFamily: %v", err)
	}
	members, err := c.ZRange(ctx, index, 0, -1).Result()
	if err != nil {
		t.Fatalf("ZRANGE: %v", err)
	}
	if want := []string{"\x00" + later.ID}; !slices.Equal(members, want) {
		t.Fatalf("index after a login past the others' deadlines = %q, want %q", members, want)
	}

	// RevokeUserFamilies removes what it deleted from the index.
	if n, err := s.RevokeUserFamilies(ctx, "u_alice"); err != nil || n != 1 {
		t.Fatalf("RevokeUserFamilies(u_alice) = %d, %v; want 1", n, err)
	}
	if n := c.Exists(ctx, index).Val(); n != 0 {
		t.Fatalf("index still exists after RevokeUserFamilies")
	}
}

// TestUserIDKey checks the user's id key, which holds both the name and
// the family index, and the id's credential version: the id stays claimed
// by the name alone, and deleting the user revokes its families and keeps
// the version for the logins in flight.
func TestUserIDKey(t *testing.T) {
	s, c, p := schemaStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	key := p + "uid:{u_alice}"

	// Families before the user: the id is still free.
	early := testFamily("fam-early", now)
	if err := s.CreateFamily(ctx, early); err != nil {
		t.Fatalf("CreateFamily: %v", err)
	}
	if err := s.CreateUser(ctx, store.User{ID: "u_alice", Name: "alice", Created: now}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := s.CreateUser(ctx, store.User{ID: "u_alice", Name: "bob", Created: now}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateUser with a taken id: %v, want ErrAlreadyExists", err)
	}
	// A taken name releases the id it claimed, and only that.
	if err := s.CreateUser(ctx, store.User{ID: "u_other", Name: "alice", Created: now}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateUser with a taken name: %v, want ErrAlreadyExists", err)
	}
	if n := c.Exists(ctx, p+"uid:{u_other}").Val(); n != 0 {
		t.Fatalf("the id of a refused user is still claimed")
	}
	late := testFamily("fam-late", now)
	late.ExpiresAt = now.Add(72 * time.Hour)
	if err := s.CreateFamily(ctx, late); err != nil {
		t.Fatalf("CreateFamily: %v", err)
	}
	if list, err := s.ListFamilies(ctx, "u_alice", now); err != nil || len(list) != 2 {
		t.Fatalf("ListFamilies = %v, %v; want 2", list, err)
	}
	if ms, _ := c.Do(ctx, "PEXPIRETIME", key).Int64(); ms != -1 {
		t.Fatalf("user id key expires at %v, want never", ms)
	}

	// Deleting the user revokes its families and empties the index; the
	// id's credential version stays, for a while, to refuse the logins
	// still in flight.
	if n, err := s.DeleteUser(ctx, "alice"); err != nil || n != 2 {
		t.Fatalf("DeleteUser = %d, %v; want 2 families revoked", n, err)
	}
	if n := c.Exists(ctx, key).Val(); n != 0 {
		t.Fatalf("user id key still exists after DeleteUser")
	}
	versionKey := p + "uv:{u_alice}"
	if ms, _ := c.Do(ctx, "PEXPIRETIME", versionKey).Int64(); ms < time.Now().Add(24*time.Hour).UnixMilli() {
		t.Fatalf("credential version of a deleted user expires at %v, want days later", time.UnixMilli(ms))
	}
	if err := s.CreateFamily(ctx, testFamily("fam-again", now)); !errors.Is(err, store.ErrStaleCredentials) {
		t.Fatalf("CreateFamily of a login before DeleteUser: %v, want ErrStaleCredentials", err)
	}
	if _, err := s.DeleteUser(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteUser again: %v, want ErrNotFound", err)
	}
	// The id is free again; a new user of it starts at its version, and
	// neither key expires.
	if err := s.CreateUser(ctx, store.User{ID: "u_alice", Name: "alice", Created: now}); err != nil {
		t.Fatalf("CreateUser after DeleteUser: %v", err)
	}
	if u, err := s.GetUser(ctx, "alice"); err != nil || u.CredentialVersion != 1 {
		t.Fatalf("GetUser after re-creation: version %d, %v; want 1", u.CredentialVersion, err)
	}
	for _, k := range []string{key, versionKey} {
		if ms, _ := c.Do(ctx, "PEXPIRETIME", k).Int64(); ms != -1 {
			t.Fatalf("%s expires at %v, want never", k, ms)
		}
	}
}
