package redisstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/redisstore"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
	"github.com/oauthkit/authserver/internal/testutil"
)

// BenchmarkMemoryPerFamily measures what an active family costs in Redis:
// used_memory of a private server before and after 100,000 logins, each
// rotated once, in two states:
//
//   - steady: the rotation's reuse grace is over and its grace record gone,
//     as it is for all but the families refreshed in the last few seconds.
//     The rotations happen a minute before the real time with a grace of
//     0, so that their grace records are born expired and the reaper frees
//     them within a second and a half (a longer grace would let 100,000 of
//     them grow the key space's tables for good); the reading waits until
//     they are all gone;
//   - within-grace: every family was rotated within the grace (of an hour
//     here, so that none expires before the reading), and its grace record
//     is still there.
//
// Families look like the server's some days into their life: ids of 16
// random bytes in base64url, user ids "u_" and 22 such characters, client
// "mobile-app", scope "profile orders:read", no claims, 32-byte token
// hashes, the server's 97-byte sealed successor, the default lifetimes
// (idle 7 days, absolute 28), logged in 6 days ago and at generation 200,
// so that every varint of the record is as wide as in such a family.
// The users (one per perUser families) exist before the first reading, so
// that only what the families add is counted: the family keys and their
// entries in the users' id keys, which hold the family index.
// It reports bytes per family (B/family), and how many of them are the
// key space's bucket arrays (bucket-B/family). One measurement, whatever
// b.N; slow, so it runs only with AUTHSERVER_MEASURE=1:
//
//	AUTHSERVER_MEASURE=1 go test -run '^$' -bench MemoryPerFamily -benchtime 1x ./authserver/store/redisstore
func BenchmarkMemoryPerFamily(b *testing.B) {
	skipUnlessMeasuring(b)
	const families, workers = 100_000, 32
	for _, state := range []string{"steady", "within-grace"} {
		for _, perUser := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/%d-per-user", state, perUser), func(b *testing.B) {
				t := testing.TB(b)
				srv := redistest.StartServer(t)
				s := openStore(t, redisstore.Options{Addrs: []string{srv.Addr}, PoolSize: workers})
				c := redis.NewClient(&redis.Options{Addr: srv.Addr})
				defer c.Close()
				ctx := context.Background()
				// Open every connection before the first reading: each costs
				// the server some memory of its own.
				parallel(t, workers, workers, func(int) error { return s.Ping(ctx) })
				users := families / perUser
				parallel(t, workers, users, func(i int) error {
					return s.CreateUser(ctx, store.User{
						ID: "u_" + userID(i), Name: fmt.Sprintf("user%06d", i), PasswordHash: "x", Created: time.Now(),
					})
				})
				before := usedMemory(t, srv.Addr)

				now := time.Now().UTC()
				created := now.Add(-6 * 24 * time.Hour)
				rotation, grace := now.Add(-time.Minute), time.Duration(0)
				if state == "within-grace" {
					rotation, grace = now, time.Hour
				}
				ids := make([]string, families)
				parallel(t, workers, families, func(i int) error {
					ids[i] = randomID()
					f := store.Family{
						ID: ids[i], UserID: "u_" + userID(i/perUser), ClientID: "mobile-app",
						Scope: []string{"profile", "orders:read"}, Created: created, LastUsed: created,
						IdleTTL: 168 * time.Hour, ExpiresAt: created.Add(672 * time.Hour),
						Generation: 200, CurrentHash: randomBytes(32),
					}
					if err := s.CreateFamily(ctx, f); err != nil {
						return err
					}
					res, err := s.Redeem(ctx, store.Redemption{
						FamilyID: f.ID, ClientID: f.ClientID, Generation: f.Generation, PresentedHash: f.CurrentHash,
						NewHash: randomBytes(32), SealedNext: randomBytes(97), Now: rotation, Grace: grace,
					})
					if err == nil && res.Outcome != store.Rotated {
						err = fmt.Errorf("redeem: %v", res.Outcome)
					}
					return err
				})
				expiring := int64(families)
				if state == "within-grace" {
					expiring += families
				}
				keys := expiring + 2*int64(users) + 1 // u: and uid: per user, and users
				awaitKeys(t, c, keys)
				after := usedMemory(t, srv.Addr)

				mainSlots, expiresSlots := tableSlots(t, c, keys, expiring)
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(float64(after-before)/families, "B/family")
				b.ReportMetric(float64(8*(mainSlots+expiresSlots))/families, "bucket-B/family")
				b.Logf("used_memory %d -> %d bytes, %d keys, %d and %d bucket slots", before, after, keys, mainSlots, expiresSlots)
				// MEMORY USAGE counts the key's allocations but for its expiry
				// entry and its share of the dictionaries' bucket arrays.
				id := ids[slices.IndexFunc(ids, func(id string) bool { return !strings.ContainsAny(rawID(id), "{}") })]
				family := "authserver:f" + rawID(id)
				for _, k := range []string{family, "authserver:g{" + family + "}", "authserver:uid:{u_" + userID(0) + "}"} {
					if usage, err := c.MemoryUsage(ctx, k).Result(); err == nil {
						t.Logf("MEMORY USAGE %q = %d bytes", k, usage)
					}
				}
			})
		}
	}
}

// tableSlots returns the number of bucket slots of the key space and of
// its expiry table, when n keys of which expiring have an expiry (MEMORY
// STATS counts 24 bytes an entry, 8 a slot, and for the key space 16 more
// a key, its value's object header). The tables grow by powers of two, so
// their slots cost between 8 and 16 bytes a key each.
func tableSlots(t testing.TB, c *redis.Client, n, expiring int64) (main, expires int64) {
	t.Helper()
	stats, err := c.Do(context.Background(), "MEMORY", "STATS").Result()
	if err != nil {
		t.Fatalf("MEMORY STATS: %v", err)
	}
	m, _ := stats.(map[any]any)
	db, _ := m["db.0"].(map[any]any)
	main, _ = db["overhead.hashtable.main"].(int64)
	expires, _ = db["overhead.hashtable.expires"].(int64)
	return (main - 40*n) / 8, (expires - 24*expiring) / 8
}

// awaitKeys waits until the server holds n keys: until the keys that were
// born expired are gone.
func awaitKeys(t testing.TB, c *redis.Client, n int64) {
	t.Helper()
	var got int64
	var err error
	if !testutil.WaitFor(time.Minute, func() bool {
		got, err = c.DBSize(context.Background()).Result()
		return err != nil || got == n
	}) {
		t.Fatalf("DBSIZE = %d after a minute, want %d", got, n)
	}
	if err != nil {
		t.Fatalf("DBSIZE: %v", err)
	}
}

// BenchmarkMemoryPerUser measures what a user costs (B/user): a
// 10-character name, the server's id form, an argon2id PHC hash (97
// characters) and no claims. One measurement, whatever b.N; slow, so it
// runs only with AUTHSERVER_MEASURE=1:
//
//	AUTHSERVER_MEASURE=1 go test -run '^$' -bench MemoryPerUser -benchtime 1x ./authserver/store/redisstore
func BenchmarkMemoryPerUser(b *testing.B) {
	skipUnlessMeasuring(b)
	t := testing.TB(b)
	const users, workers = 100_000, 32
	srv := redistest.StartServer(t)
	s := openStore(t, redisstore.Options{Addrs: []string{srv.Addr}, PoolSize: workers})
	ctx := context.Background()
	parallel(t, workers, workers, func(int) error { return s.Ping(ctx) })
	before := usedMemory(t, srv.Addr)
	hash := "$argon2id$v=19$m=65536,t=1,p=4$" + base64.RawStdEncoding.EncodeToString(randomBytes(16)) + "$" +
		base64.RawStdEncoding.EncodeToString(randomBytes(32))
	created := time.Now().UTC().Truncate(time.Second)
	parallel(t, workers, users, func(i int) error {
		return s.CreateUser(ctx, store.User{
			ID: "u_" + userID(i), Name: fmt.Sprintf("user%06d", i), PasswordHash: hash, Created: created,
		})
	})
	after := usedMemory(t, srv.Addr)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(after-before)/users, "B/user")
	b.Logf("%d users (password hash %d bytes): used_memory %d -> %d bytes", users, len(hash), before, after)
}

// skipUnlessMeasuring skips the slow measurements (minutes, and a private
// Redis filled with 100,000 records) unless AUTHSERVER_MEASURE=1, so that
// a plain -bench . stays quick.
func skipUnlessMeasuring(b *testing.B) {
	b.Helper()
	if os.Getenv("AUTHSERVER_MEASURE") != "1" {
		b.Skip("set AUTHSERVER_MEASURE=1 to run this measurement (slow)")
	}
}

func usedMemory(t testing.TB, addr string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(redistest.InfoField(t, addr, "memory", "used_memory"), 10, 64)
	if err != nil {
		t.Fatalf("used_memory: %v", err)
	}
	return n
}

// parallel runs fn(0..n-1) on workers goroutines and fails t at the first
// error.
func parallel(t testing.TB, workers, n int, fn func(i int) error) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		next = make(chan int)
		errs = make(chan error, workers)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case err := <-errs:
			close(next)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// randomID returns an id like the server's: 16 random bytes, base64url.
func randomID() string { return base64.RawURLEncoding.EncodeToString(randomBytes(16)) }

// rawID returns the bytes of an id that randomID returned.
func rawID(id string) string {
	b, _ := base64.RawURLEncoding.DecodeString(id)
	return string(b)
}

// userID returns the i-th user's id body, 22 characters like the server's.
func userID(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
