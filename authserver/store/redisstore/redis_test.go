package redisstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/redisstore"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
	"github.com/oauthkit/authserver/authserver/store/storetest"
)

// newStore returns a function that opens, for every subtest, a store on
// addrs (and masterName, for Sentinel) under a fresh key prefix whose keys
// are deleted when the subtest ends.
func newStore(addrs, cleanupAddrs []string, masterName string) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store {
		prefix := redistest.Prefix(t)
		redistest.CleanupPrefix(t, cleanupAddrs, prefix)
		return openStore(t, redisstore.Options{Addrs: addrs, MasterName: masterName, KeyPrefix: prefix})
	}
}

// openStore opens a store and closes it when t ends.
func openStore(t testing.TB, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	addrs := []string{redistest.SharedAddr(t)}
	storetest.RunTests(t, newStore(addrs, addrs, ""))
	t.Run("FamilyKeyForms", func(t *testing.T) { testFamilyKeyForms(t, newStore(addrs, addrs, "")(t)) })
}

// testFamilyKeyForms runs every family operation on ids of each key form
// (docs/redis.md): server ids named by their bytes, server ids whose bytes
// hold a brace, text ids with and without braces. The suite's ids are all
// text; on a Cluster, a family whose two keys fell in two slots would fail
// with CROSSSLOT.
func testFamilyKeyForms(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Redis expires grace records by its own clock: the rotations happen
	// at the real time.
	now := time.Now().UTC().Truncate(time.Millisecond)
	ids := []string{"fam-text", "}fam{braces}", "{", base64.RawURLEncoding.EncodeToString([]byte("0123456789abcde}"))}
	for range 40 {
		ids = append(ids, randomID())
	}
	var fs []store.Family
	for i, id := range ids {
		f := testFamily(id, now)
		f.UserID = "u_forms"
		if err := s.CreateFamily(ctx, f); err != nil {
			t.Fatalf("CreateFamily(%q): %v", id, err)
		}
		f = rotate(t, s, f, now.Add(time.Duration(i)*time.Millisecond))
		r := redemption(f, f.LastUsed.Add(time.Second), 10*time.Second, "retry")
		r.Generation, r.PresentedHash = f.Generation-1, f.PreviousHash
		res, err := s.Redeem(ctx, r)
		if err != nil || res.Outcome != store.Replayed || !bytes.Equal(res.Family.SealedNext, f.SealedNext) {
			t.Fatalf("Redeem(%q) of the previous token = %v, %v; want replayed", id, res.Outcome, err)
		}
		got, err := s.GetFamily(ctx, id, f.LastUsed)
		if err != nil || !bytes.Equal(got.PreviousHash, f.PreviousHash) || !bytes.Equal(got.SealedNext, f.SealedNext) {
			t.Fatalf("GetFamily(%q) = previous %x, successor %q, %v; want %x, %q", id, got.PreviousHash, got.SealedNext, err, f.PreviousHash, f.SealedNext)
		}
		fs = append(fs, f)
	}
	later := now.Add(time.Minute)
	list, err := s.ListFamilies(ctx, "u_forms", later)
	if err != nil || len(list) != len(ids) {
		t.Fatalf("ListFamilies = %d families, %v; want %d", len(list), err, len(ids))
	}
	// A reuse and a revocation delete both keys of a family.
	r := redemption(fs[0], later, 10*time.Second, "thief")
	r.Generation, r.PresentedHash = fs[0].Generation-1, fs[0].PreviousHash
	if res, err := s.Redeem(ctx, r); err != nil || res.Outcome != store.Reused {
		t.Fatalf("Redeem(%q) of the previous token after the grace = %v, %v; want reused", fs[0].ID, res.Outcome, err)
	}
	if err := s.RevokeFamily(ctx, fs[1].ID); err != nil {
		t.Fatalf("RevokeFamily(%q): %v", fs[1].ID, err)
	}
	if n, err := s.RevokeUserFamilies(ctx, "u_forms"); err != nil || n != len(ids)-2 {
		t.Fatalf("RevokeUserFamilies = %d, %v; want %d", n, err, len(ids)-2)
	}
	for _, id := range ids {
		if _, err := s.GetFamily(ctx, id, later); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetFamily(%q) after the revocations: error = %v, want ErrNotFound", id, err)
		}
	}
}

func TestTwoProcessRedeem(t *testing.T) {
	addr := redistest.SharedAddr(t)
	storetest.RunTwoProcessRedeem(t, func(dir string) (store.Store, error) {
		// The whole path, not its base name ("001"), is what is unique to
		// the run; both processes see the same one.
		sum := sha256.Sum256([]byte(dir))
		prefix := "authserver-test-" + hex.EncodeToString(sum[:8]) + ":"
		redistest.CleanupPrefix(t, []string{addr}, prefix)
		return redisstore.Open(context.Background(), redisstore.Options{Addrs: []string{addr}, KeyPrefix: prefix})
	})
}

// TestCluster runs the suite on a three-master Cluster, as an ACL user
// allowed only aclCommands and what Cluster adds.
func TestCluster(t *testing.T) {
	addrs := redistest.StartCluster(t)
	for _, addr := range addrs {
		setACLUser(t, addr, "+cluster|slots", "+command")
	}
	newStore := func(t *testing.T) store.Store {
		prefix := redistest.Prefix(t)
		redistest.CleanupPrefix(t, addrs, prefix)
		return openStore(t, redisstore.Options{Addrs: addrs, Username: aclUser, Password: aclPassword, KeyPrefix: prefix})
	}
	storetest.RunTests(t, newStore)
	t.Run("FamilyKeyForms", func(t *testing.T) { testFamilyKeyForms(t, newStore(t)) })
}

func TestSentinel(t *testing.T) {
	master := redistest.StartServer(t)
	sentinel := redistest.StartSentinel(t, master, "authserver-master")
	storetest.RunTests(t, newStore([]string{sentinel}, []string{master.Addr}, "authserver-master"))
}

// aclCommands is every command the store sends (docs/redis.md lists them
// for operators who give authserver its own ACL user).
var aclCommands = []string{
	"+ping", "+hello", "+client|setname",
	"+get", "+set", "+del", "+exists", "+incr", "+pexpireat", "+pexpiretime",
	"+hset", "+hget", "+hgetall", "+hmget", "+sadd", "+srem", "+smembers",
	"+zadd", "+zrem", "+zrangebyscore", "+zremrangebyscore", "+zrangebylex", "+zcard", "+scard", "+sscan",
	"+eval", "+evalsha", "+multi", "+exec", "+wait",
	"+publish", "+subscribe", "+unsubscribe", "&authserver-test-*",
}

const aclUser, aclPassword = "authserver", "acl-test-password"

// setACLUser creates aclUser on the server at addr, allowed aclCommands
// and extra on the keys of test prefixes.
func setACLUser(t *testing.T, addr string, extra ...string) {
	t.Helper()
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	args := []any{"ACL", "SETUSER", aclUser, "on", ">" + aclPassword, "~authserver-test-*", "-@all"}
	for _, c := range append(aclCommands, extra...) {
		args = append(args, c)
	}
	if err := admin.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
}

// TestACL runs the suite on a plain server as a user allowed exactly
// aclCommands.
func TestACL(t *testing.T) {
	srv := redistest.StartServer(t)
	setACLUser(t, srv.Addr)
	storetest.RunTests(t, func(t *testing.T) store.Store {
		return openStore(t, redisstore.Options{
			Addrs: []string{srv.Addr}, Username: aclUser, Password: aclPassword, KeyPrefix: redistest.Prefix(t),
		})
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		opts    redisstore.Options
		want    string
		wantErr error
	}{
		{"no-address", redisstore.Options{}, "no address", nil},
		{"brace-in-prefix", redisstore.Options{Addrs: []string{"127.0.0.1:1"}, KeyPrefix: "a{b}:"}, "contains { or }", nil},
		// Port 1 on the loopback refuses at once.
		{"unreachable", redisstore.Options{Addrs: []string{"127.0.0.1:1"}}, "ping 127.0.0.1:1", store.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := redisstore.Open(ctx, tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open error = %q, want it to contain %q", err, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Open error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestOpenWrongPassword(t *testing.T) {
	srv := redistest.StartServer(t, "--requirepass", "right-password")
	_, err := redisstore.Open(context.Background(), redisstore.Options{Addrs: []string{srv.Addr}, Password: "wrong-password"})
	if err == nil {
		t.Fatal("Open with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), "wrong-password") || strings.Contains(err.Error(), "right-password") {
		t.Fatalf("Open error reveals a password: %v", err)
	}
	s := openStore(t, redisstore.Options{Addrs: []string{srv.Addr}, Password: "right-password"})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping with the right password: %v", err)
	}
}
