// Package storetest is the conformance suite that every store.Store
// backend passes, in the manner of Dex's storage/conformance. A backend's
// functional tests are a few lines:
//
//	func TestConformance(t *testing.T) {
//		storetest.RunTests(t, func(t *testing.T) store.Store {
//			s, err := embedded.Open(filepath.Join(t.TempDir(), "a.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// newStore must return a fresh, empty store on every call and register its
// own cleanup with t.Cleanup.
//
// Cross-process atomicity is proved by RunTwoProcessRedeem, which re-executes
// the test binary so that two OS processes redeem the same refresh tokens at
// the same instant:
//
//	func TestTwoProcessRedeem(t *testing.T) {
//		storetest.RunTwoProcessRedeem(t, func(dir string) (store.Store, error) {
//			return embedded.Open(filepath.Join(dir, "a.db"))
//		})
//	}
//
// The child runs the calling test again (selected by t.Name() with
// -test.run), so that test must do nothing but this call. A networked
// backend derives its namespace (a key prefix, say) from the whole path
// dir, a hash of it for instance: the path is unique to the run and the
// same in both processes, its base name is not (t.TempDir names it 001).
//
// # Time
//
// Every expiry decision is taken on the now values the suite passes, never
// on the backend's own clock. Those values start at the real time truncated
// to the second and move forward in whole seconds, so that a backend which
// also sets native TTLs relative to them (Redis PEXPIREAT at a family's
// Expiry) keeps the data for the test's real duration, and a backend that
// stores times at second, millisecond or nanosecond precision round-trips
// them exactly. Within one store the now values passed never decrease, so a
// backend may delete what has expired at a now it was given.
//
// Intervals are half-open: a family, lockout window or revoked token whose
// end is <= now is gone, and a previous token is replayed only while
// now < LastUsed+Grace, so a grace of 0 never replays.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// RunTests runs the conformance suite against the backend that newStore
// opens. Every subtest gets a fresh store from newStore.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"UserCreateGet", testUserCreateGet},
		{"UserDuplicate", testUserDuplicate},
		{"UserNotFound", testUserNotFound},
		{"UserList", testUserList},
		{"UserSetPassword", testUserSetPassword},
		{"UserSetDisabled", testUserSetDisabled},
		{"UserDelete", testUserDelete},
		{"ImportUsers", testImportUsers},
		{"FamilyCreateGet", testFamilyCreateGet},
		{"FamilyExpiry", testFamilyExpiry},
		{"FamilyRevoke", testFamilyRevoke},
		{"FamilyList", testFamilyList},
		{"FamilyRevokeUser", testFamilyRevokeUser},
		{"CredentialChanges", testCredentialChanges},
		{"CredentialRace", testCredentialRace},
		{"HashUpgrade", testHashUpgrade},
		{"RedeemRules", testRedeemRules},
		{"RedeemReplayScope", testRedeemReplayScope},
		{"RedeemFirstGeneration", testRedeemFirstGeneration},
		{"RedeemChain", testRedeemChain},
		{"RedeemConcurrentNoGrace", testRedeemConcurrentNoGrace},
		{"RedeemConcurrentGrace", testRedeemConcurrentGrace},
		{"KeySetEmpty", testKeySetEmpty},
		{"KeySetSwap", testKeySetSwap},
		{"KeySetConcurrentSwap", testKeySetConcurrentSwap},
		{"Lockout", testLockout},
		{"LockoutKeysIndependent", testLockoutKeysIndependent},
		{"LockoutRefund", testLockoutRefund},
		{"LockoutRefundConcurrent", testLockoutRefundConcurrent},
		{"RevokedTokens", testRevokedTokens},
		{"UserByID", testUserByID}, {"UserPages", testUserPages}, {"UserPagesConcurrent", testUserPagesConcurrent}, {"UpdateClaims", testUpdateClaims}, {"IdempotencyKeys", testIdempotencyKeys},
		{"GuardedChanges", testGuardedChanges}, {"GuardedRace", testGuardedRace},
		{"CodeRedeem", testCodeRedeem}, {"CodeNotFound", testCodeNotFound}, {"CodeConcurrent", testCodeConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// liveBase returns the start of a test's timeline: the real time truncated
// to the second, so that native TTLs derived from it lie in the future.
func liveBase() time.Time {
	return time.Now().UTC().Truncate(time.Second)
}

// tokenHash stands in for the hash of the refresh token of generation gen
// of family id; tag tells apart successors minted by different redeemers.
func tokenHash(id string, gen uint32, tag string) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%s", id, gen, tag))
	return h[:]
}

// sealed stands in for a sealed successor response.
func sealed(id string, gen uint32, tag string) []byte {
	return fmt.Appendf(nil, "sealed:%s/%d/%s", id, gen, tag)
}

const testClient = "mobile-app"

var testScope = []string{"orders:read", "profile"}

// newFamily returns a family logged in at created with an idle TTL of one
// hour and an absolute lifetime of one day.
func newFamily(id, userID string, created time.Time) store.Family {
	return store.Family{
		ID:          id,
		UserID:      userID,
		ClientID:    testClient,
		Scope:       slices.Clone(testScope),
		Claims:      map[string]string{"role": "buyer", "tenant": "acme"},
		Created:     created,
		LastUsed:    created,
		IdleTTL:     time.Hour,
		ExpiresAt:   created.Add(24 * time.Hour),
		CurrentHash: tokenHash(id, 0, ""),
	}
}

// rotation returns the redemption of family f's current token at now.
func rotation(f store.Family, now time.Time, grace time.Duration, tag string) store.Redemption {
	return store.Redemption{
		FamilyID:      f.ID,
		ClientID:      f.ClientID,
		Generation:    f.Generation,
		PresentedHash: f.CurrentHash,
		NewHash:       tokenHash(f.ID, f.Generation+1, tag),
		SealedNext:    sealed(f.ID, f.Generation+1, tag),
		Now:           now,
		Grace:         grace,
	}
}

// rotated returns f as it is after r rotated it.
func rotated(f store.Family, r store.Redemption) store.Family {
	f.Generation++
	f.PreviousHash = f.CurrentHash
	f.CurrentHash = r.NewHash
	f.SealedNext = r.SealedNext
	f.RotationScope = r.Scope
	f.LastUsed = r.Now
	return f
}

// ensureUser creates the user of id userID, named "name-" and the id,
// unless it exists.
func ensureUser(t *testing.T, s store.Store, userID string) {
	t.Helper()
	u := store.User{ID: userID, Name: "name-" + userID, PasswordHash: "$argon2id$x", Created: liveBase()}
	if err := s.CreateUser(context.Background(), u); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateUser(%s): %v", u.Name, err)
	}
}

// mustCreateFamily creates f, and first its user (named "name-" and the
// user id) if there is none.
func mustCreateFamily(t *testing.T, s store.Store, f store.Family) {
	t.Helper()
	ensureUser(t, s, f.UserID)
	if err := s.CreateFamily(context.Background(), f); err != nil {
		t.Fatalf("CreateFamily(%s): %v", f.ID, err)
	}
}

// mustRotate redeems f's current token at now, requires Rotated and returns
// the family after the step.
func mustRotate(t *testing.T, s store.Store, f store.Family, now time.Time) store.Family {
	t.Helper()
	r := rotation(f, now, 0, "")
	got, err := s.Redeem(context.Background(), r)
	if err != nil {
		t.Fatalf("Redeem(%s, generation %d): %v", f.ID, f.Generation, err)
	}
	if got.Outcome != store.Rotated {
		t.Fatalf("Redeem(%s, generation %d) = %v (%s), want rotated", f.ID, f.Generation, got.Outcome, got.Reason)
	}
	want := rotated(f, r)
	if d := DiffFamily(got.Family, want); d != "" {
		t.Fatalf("Redeem(%s) family (-got +want):\n%s", f.ID, d)
	}
	return want
}

// wantFamily requires GetFamily(id, now) to return want.
func wantFamily(t *testing.T, s store.Store, want store.Family, now time.Time) {
	t.Helper()
	got, err := s.GetFamily(context.Background(), want.ID, now)
	if err != nil {
		t.Fatalf("GetFamily(%s, %s): %v", want.ID, now.Format(time.RFC3339), err)
	}
	if d := DiffFamily(got, want); d != "" {
		t.Fatalf("GetFamily(%s) (-got +want):\n%s", want.ID, d)
	}
}

// wantNoFamily requires GetFamily(id, now) to fail with ErrNotFound.
func wantNoFamily(t *testing.T, s store.Store, id string, now time.Time) {
	t.Helper()
	_, err := s.GetFamily(context.Background(), id, now)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetFamily(%s, %s) error = %v, want ErrNotFound", id, now.Format(time.RFC3339), err)
	}
}

// DiffFamily describes how got differs from want, field by field, or
// returns "". Times compare with Equal; nil and empty slices and maps are
// the same.
func DiffFamily(got, want store.Family) string {
	var b bytes.Buffer
	field := func(name string, equal bool, g, w any) {
		if !equal {
			fmt.Fprintf(&b, "  %s: -%v +%v\n", name, g, w)
		}
	}
	field("ID", got.ID == want.ID, got.ID, want.ID)
	field("UserID", got.UserID == want.UserID, got.UserID, want.UserID)
	field("ClientID", got.ClientID == want.ClientID, got.ClientID, want.ClientID)
	field("Scope", slices.Equal(got.Scope, want.Scope), got.Scope, want.Scope)
	field("Claims", maps.Equal(got.Claims, want.Claims), got.Claims, want.Claims)
	field("Created", got.Created.Equal(want.Created), got.Created, want.Created)
	field("LastUsed", got.LastUsed.Equal(want.LastUsed), got.LastUsed, want.LastUsed)
	field("IdleTTL", got.IdleTTL == want.IdleTTL, got.IdleTTL, want.IdleTTL)
	field("ExpiresAt", got.ExpiresAt.Equal(want.ExpiresAt), got.ExpiresAt, want.ExpiresAt)
	field("Generation", got.Generation == want.Generation, got.Generation, want.Generation)
	field("CurrentHash", bytes.Equal(got.CurrentHash, want.CurrentHash), got.CurrentHash, want.CurrentHash)
	field("PreviousHash", bytes.Equal(got.PreviousHash, want.PreviousHash), got.PreviousHash, want.PreviousHash)
	field("SealedNext", bytes.Equal(got.SealedNext, want.SealedNext), got.SealedNext, want.SealedNext)
	field("RotationScope", slices.Equal(got.RotationScope, want.RotationScope), got.RotationScope, want.RotationScope)
	field("CredentialVersion", got.CredentialVersion == want.CredentialVersion, got.CredentialVersion, want.CredentialVersion)
	return b.String()
}

// diffUser is diffFamily for users.
func diffUser(got, want store.User) string {
	var b bytes.Buffer
	field := func(name string, equal bool, g, w any) {
		if !equal {
			fmt.Fprintf(&b, "  %s: -%v +%v\n", name, g, w)
		}
	}
	field("ID", got.ID == want.ID, got.ID, want.ID)
	field("Name", got.Name == want.Name, got.Name, want.Name)
	// A password hash is no secret in a test, but print only its length
	// so that the habit of never printing one holds.
	field("PasswordHash", got.PasswordHash == want.PasswordHash, len(got.PasswordHash), len(want.PasswordHash))
	field("Disabled", got.Disabled == want.Disabled, got.Disabled, want.Disabled)
	field("Claims", maps.Equal(got.Claims, want.Claims), got.Claims, want.Claims)
	field("Created", got.Created.Equal(want.Created), got.Created, want.Created)
	return b.String()
}

// familyIDs returns the ids of fs in order.
func familyIDs(fs []store.Family) []string {
	ids := make([]string, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	return ids
}
