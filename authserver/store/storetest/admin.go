package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

func testUserByID(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := newUser("alice")
	mustCreateUser(t, s, alice)
	got, err := s.GetUserByID(ctx, alice.ID)
	if err != nil {
		t.Fatalf("GetUserByID: %v", err)
	}
	if d := diffUser(got, alice); d != "" {
		t.Fatalf("GetUserByID (-got +want):\n%s", d)
	}
	if _, err := s.GetUserByID(ctx, "id-nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUserByID(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUserByID(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUserByID(deleted) = %v, want ErrNotFound", err)
	}
}

// listAll pages through every user, limit at a time.
func listAll(t *testing.T, s store.Store, limit int) []string {
	t.Helper()
	var names []string
	after := ""
	for {
		page, err := s.ListUsersAfter(context.Background(), after, limit)
		if err != nil {
			t.Fatalf("ListUsersAfter(%q): %v", after, err)
		}
		if len(page) > limit {
			t.Fatalf("ListUsersAfter(%q, %d) returned %d users", after, limit, len(page))
		}
		if len(page) == 0 {
			return names
		}
		for _, u := range page {
			names = append(names, u.Name)
		}
		after = page[len(page)-1].Name
	}
}

func testUserPages(t *testing.T, s store.Store) {
	ctx := context.Background()
	if page, err := s.ListUsersAfter(ctx, "", 10); err != nil || len(page) != 0 {
		t.Fatalf("empty store: %v %v", page, err)
	}
	var want []string
	for i := range 25 {
		name := fmt.Sprintf("user%02d", i)
		mustCreateUser(t, s, newUser(name))
		want = append(want, name)
	}
	mustCreateUser(t, s, newUser("zoë"))
	want = append(want, "zoë")
	for _, limit := range []int{1, 7, 26, 100} {
		if got := listAll(t, s, limit); !slices.Equal(got, want) {
			t.Fatalf("limit %d: got %v, want %v", limit, got, want)
		}
	}
	page, err := s.ListUsersAfter(ctx, "user23", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Name != "user24" || page[1].Name != "zoë" {
		t.Fatalf("after user23: %v", page)
	}
	wantUser(t, s, page[1])
}

// testUserPagesConcurrent pages through users while others are added and
// removed: every user present throughout is listed exactly once.
func testUserPagesConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	var stable []string
	for i := range 60 {
		name := fmt.Sprintf("s%03d", i*2)
		mustCreateUser(t, s, newUser(name))
		stable = append(stable, name)
	}
	for i := range 30 {
		mustCreateUser(t, s, newUser(fmt.Sprintf("d%03d", i)))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i < 60 {
				if err := s.CreateUser(ctx, newUser(fmt.Sprintf("s%03d", i*2+1))); err != nil {
					t.Errorf("CreateUser: %v", err)
					return
				}
			}
			if i < 30 {
				if _, err := s.DeleteUser(ctx, fmt.Sprintf("d%03d", i)); err != nil {
					t.Errorf("DeleteUser: %v", err)
					return
				}
			}
			if i >= 60 {
				return
			}
		}
	}()
	got := listAll(t, s, 4)
	close(stop)
	wg.Wait()
	seen := map[string]int{}
	for _, n := range got {
		seen[n]++
		if seen[n] > 1 {
			t.Fatalf("%s listed twice: %v", n, got)
		}
	}
	for _, n := range stable {
		if seen[n] != 1 {
			t.Fatalf("%s, present throughout, listed %d times", n, seen[n])
		}
	}
	if !slices.IsSorted(got) {
		t.Fatalf("not in name order: %v", got)
	}
}

var errPrecondition = errors.New("precondition failed")

func testUpdateClaims(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := newUser("alice")
	mustCreateUser(t, s, alice)
	claims := map[string]string{"role": "admin"}
	got, err := s.UpdateClaims(ctx, "alice", claims, func(u store.User) error {
		if u.ID != alice.ID {
			t.Errorf("check got %+v", u)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateClaims: %v", err)
	}
	alice.Claims = claims
	if d := diffUser(got, alice); d != "" {
		t.Fatalf("UpdateClaims returned (-got +want):\n%s", d)
	}
	wantUser(t, s, alice)
	if _, err := s.UpdateClaims(ctx, "alice", nil, func(store.User) error { return errPrecondition }); !errors.Is(err, errPrecondition) {
		t.Fatalf("refused check: %v", err)
	}
	wantUser(t, s, alice)
	if _, err := s.UpdateClaims(ctx, "alice", nil, func(store.User) error { return nil }); err != nil {
		t.Fatal(err)
	}
	alice.Claims = nil
	wantUser(t, s, alice)
	if _, err := s.UpdateClaims(ctx, "nobody", nil, func(store.User) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}

	// Two writers that both read claims v0 and require them: one wins.
	var (
		wg   sync.WaitGroup
		wins = make(chan string, 2)
	)
	for _, v := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateClaims(ctx, "alice", map[string]string{"v": v}, func(u store.User) error {
				if len(u.Claims) != 0 {
					return errPrecondition
				}
				return nil
			})
			if err == nil {
				wins <- v
			} else if !errors.Is(err, errPrecondition) {
				t.Errorf("UpdateClaims: %v", err)
			}
		}()
	}
	wg.Wait()
	close(wins)
	var won []string
	for v := range wins {
		won = append(won, v)
	}
	if len(won) != 1 {
		t.Fatalf("winners: %v, want exactly one", won)
	}
	alice.Claims = map[string]string{"v": won[0]}
	wantUser(t, s, alice)
}

func testIdempotencyKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := liveBase()
	rec := store.IdempotencyRecord{Key: "client:k1", Fingerprint: "fp", Expires: now.Add(24 * time.Hour)}
	if _, ok, err := s.ReserveIdempotencyKey(ctx, rec, now); err != nil || !ok {
		t.Fatalf("first reserve: %v %v", ok, err)
	}
	got, ok, err := s.ReserveIdempotencyKey(ctx, rec, now)
	if err != nil || ok || got.Status != 0 || got.Fingerprint != "fp" {
		t.Fatalf("second reserve: %+v %v %v", got, ok, err)
	}
	done := rec
	done.Status, done.ContentType, done.Location, done.ETag, done.Body = 201, "application/json", "/x", `"v1"`, []byte(`{"id":"1"}`)
	if err := s.CompleteIdempotencyKey(ctx, done); err != nil {
		t.Fatal(err)
	}
	got, ok, err = s.ReserveIdempotencyKey(ctx, rec, now.Add(time.Hour))
	if err != nil || ok {
		t.Fatalf("reserve after complete: %v %v", ok, err)
	}
	if got.Status != 201 || got.ContentType != "application/json" || got.Location != "/x" || got.ETag != `"v1"` || string(got.Body) != `{"id":"1"}` || !got.Expires.Equal(done.Expires) {
		t.Fatalf("kept record %+v, want %+v", got, done)
	}
	other := store.IdempotencyRecord{Key: "client:k2", Fingerprint: "fp2", Expires: now.Add(time.Hour)}
	if _, ok, err := s.ReserveIdempotencyKey(ctx, other, now); err != nil || !ok {
		t.Fatalf("other key: %v %v", ok, err)
	}
	if err := s.ReleaseIdempotencyKey(ctx, other.Key); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ReserveIdempotencyKey(ctx, other, now); err != nil || !ok {
		t.Fatalf("reserve after release: %v %v", ok, err)
	}

	// Concurrent reservations of one key: exactly one wins.
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won int
	)
	race := store.IdempotencyRecord{Key: "client:race", Fingerprint: "fp", Expires: now.Add(time.Hour)}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := s.ReserveIdempotencyKey(ctx, race, now)
			if err != nil {
				t.Errorf("reserve: %v", err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d concurrent reservations won, want 1", won)
	}
}
