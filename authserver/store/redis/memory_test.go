package redisstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
	redisstore "github.com/oauthkit/authserver/authserver/store/redis"
	"github.com/oauthkit/authserver/authserver/store/redis/redistest"
)

// TestMemoryPerFamily measures what an active family costs in Redis:
// used_memory of a private server before and after 100,000 logins, each
// rotated once (so that the previous hash and the sealed successor are
// stored). Families look like the server's: 22-character ids and user ids
// "u_"+22 (16 random bytes, base64url), 32-byte token hashes, scope
// "profile orders:read", no claims, a 120-byte sealed successor, and the
// default lifetimes. Users are not counted: only families and the
// per-user family index. Slow: it runs only with AUTHSERVER_MEASURE=1.
//
//	AUTHSERVER_MEASURE=1 go test -run TestMemoryPerFamily -v ./authserver/store/redis
func TestMemoryPerFamily(t *testing.T) {
	if os.Getenv("AUTHSERVER_MEASURE") != "1" {
		t.Skip("set AUTHSERVER_MEASURE=1 to measure memory per family (slow)")
	}
	const families = 100_000
	for _, perUser := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d-per-user", perUser), func(t *testing.T) {
			srv := redistest.StartServer(t)
			const workers = 32
			s := openStore(t, redisstore.Options{Addrs: []string{srv.Addr}, PoolSize: workers})
			ctx := context.Background()
			// Open every connection before the first reading: each costs
			// the server some memory of its own.
			parallel(t, workers, workers, func(int) error { return s.Ping(ctx) })
			before := usedMemory(t, srv.Addr)

			now := time.Now().UTC().Truncate(time.Second)
			parallel(t, workers, families, func(i int) error {
				f := store.Family{
					ID: randomID(), UserID: "u_" + userID(i/perUser), ClientID: "mobile-app",
					Scope: []string{"profile", "orders:read"}, Created: now, LastUsed: now,
					IdleTTL: 168 * time.Hour, ExpiresAt: now.Add(672 * time.Hour), CurrentHash: randomBytes(32),
				}
				if err := s.CreateFamily(ctx, f); err != nil {
					return err
				}
				res, err := s.Redeem(ctx, store.Redemption{
					FamilyID: f.ID, ClientID: f.ClientID, PresentedHash: f.CurrentHash,
					NewHash: randomBytes(32), SealedNext: randomBytes(120), Now: now.Add(time.Minute), Grace: 10 * time.Second,
				})
				if err == nil && res.Outcome != store.Rotated {
					err = fmt.Errorf("redeem: %v", res.Outcome)
				}
				return err
			})
			after := usedMemory(t, srv.Addr)

			c := redis.NewClient(&redis.Options{Addr: srv.Addr})
			defer c.Close()
			famKey, _ := c.RandomKey(ctx).Result()
			t.Logf("%d families, %d per user: used_memory %d -> %d bytes: %.0f bytes per family",
				families, perUser, before, after, float64(after-before)/families)
			for _, k := range []string{famKey, "authserver:uf:{u_" + userID(0) + "}"} {
				usage, _ := c.MemoryUsage(ctx, k).Result()
				t.Logf("MEMORY USAGE %s = %d bytes", k, usage)
			}
		})
	}
}

// TestMemoryPerUser measures what a user costs: a 10-character name, the
// server's id form, an argon2id PHC hash (97 characters) and no claims.
//
//	AUTHSERVER_MEASURE=1 go test -run TestMemoryPerUser -v ./authserver/store/redis
func TestMemoryPerUser(t *testing.T) {
	if os.Getenv("AUTHSERVER_MEASURE") != "1" {
		t.Skip("set AUTHSERVER_MEASURE=1 to measure memory per user (slow)")
	}
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
	t.Logf("%d users (password hash %d bytes): used_memory %d -> %d bytes: %.0f bytes per user",
		users, len(hash), before, after, float64(after-before)/users)
}

func usedMemory(t *testing.T, addr string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(redistest.InfoField(t, addr, "memory", "used_memory"), 10, 64)
	if err != nil {
		t.Fatalf("used_memory: %v", err)
	}
	return n
}

// parallel runs fn(0..n-1) on workers goroutines and fails t at the first
// error.
func parallel(t *testing.T, workers, n int, fn func(i int) error) {
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

// userID returns the i-th user's id body, 22 characters like the server's.
func userID(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
