package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// After-states of a redemption in testRedeemRules.
const (
	stateRotated   = "rotated"   // the family holds the successor
	stateUnchanged = "unchanged" // the family is as it was
	stateGone      = "gone"      // the family is revoked
)

func testRedeemRules(t *testing.T, s store.Store) {
	ctx := context.Background()
	const grace = 10 * time.Second
	// Each case gets a family rotated twice: generation 2 is current,
	// generation 1 was rotated at t2 (its hash is PreviousHash) and
	// generation 0 before it. By default the case presents the current
	// token a minute after t2; mod changes the redemption.
	tests := []struct {
		name        string
		mod         func(r *store.Redemption, gen0, gen1 []byte, t2 time.Time)
		wantErr     error
		wantOutcome store.Outcome
		wantReason  string
		wantState   string
	}{
		{
			name:        "rotated",
			wantOutcome: store.Rotated,
			wantState:   stateRotated,
		},
		{
			name:        "rotated-narrower-scope",
			mod:         func(r *store.Redemption, _, _ []byte, _ time.Time) { r.Scope = []string{"profile"} },
			wantOutcome: store.Rotated,
			wantState:   stateRotated,
		},
		{
			name:        "rotated-same-scope",
			mod:         func(r *store.Redemption, _, _ []byte, _ time.Time) { r.Scope = []string{"profile", "orders:read"} },
			wantOutcome: store.Rotated,
			wantState:   stateRotated,
		},
		{
			name:        "rotated-within-grace-of-last-rotation",
			mod:         func(r *store.Redemption, _, _ []byte, t2 time.Time) { r.Now = t2.Add(time.Second) },
			wantOutcome: store.Rotated,
			wantState:   stateRotated,
		},
		{
			name:        "rejected-wider-scope",
			mod:         func(r *store.Redemption, _, _ []byte, _ time.Time) { r.Scope = []string{"profile", "admin"} },
			wantOutcome: store.Rejected,
			wantReason:  store.ReasonScope,
			wantState:   stateUnchanged,
		},
		{
			name:        "rejected-wrong-client",
			mod:         func(r *store.Redemption, _, _ []byte, _ time.Time) { r.ClientID = "billing-worker" },
			wantOutcome: store.Rejected,
			wantReason:  store.ReasonWrongClient,
			wantState:   stateUnchanged,
		},
		{
			// A rotated token from the wrong client proves nothing about
			// the family's client: it must not revoke the family.
			name: "rejected-wrong-client-rotated-token",
			mod: func(r *store.Redemption, _, gen1 []byte, t2 time.Time) {
				r.ClientID, r.Generation, r.PresentedHash, r.Now = "billing-worker", 1, gen1, t2.Add(time.Hour-time.Second)
			},
			wantOutcome: store.Rejected,
			wantReason:  store.ReasonWrongClient,
			wantState:   stateUnchanged,
		},
		{
			name: "replayed-within-grace",
			mod: func(r *store.Redemption, _, gen1 []byte, t2 time.Time) {
				r.Generation, r.PresentedHash, r.Now = 1, gen1, t2.Add(grace-time.Second)
			},
			wantOutcome: store.Replayed,
			wantState:   stateUnchanged,
		},
		{
			// The rotation asked no narrowing: a replay that asks one
			// would get another token under the same jti.
			name: "rejected-replay-other-scope",
			mod: func(r *store.Redemption, _, gen1 []byte, t2 time.Time) {
				r.Generation, r.PresentedHash, r.Now, r.Scope = 1, gen1, t2.Add(time.Second), []string{"profile"}
			},
			wantOutcome: store.Rejected,
			wantReason:  store.ReasonScope,
			wantState:   stateUnchanged,
		},
		{
			name: "replayed-at-rotation-instant",
			mod: func(r *store.Redemption, _, gen1 []byte, t2 time.Time) {
				r.Generation, r.PresentedHash, r.Now = 1, gen1, t2
			},
			wantOutcome: store.Replayed,
			wantState:   stateUnchanged,
		},
		{
			name: "reused-at-grace-end",
			mod: func(r *store.Redemption, _, gen1 []byte, t2 time.Time) {
				r.Generation, r.PresentedHash, r.Now = 1, gen1, t2.Add(grace)
			},
			wantOutcome: store.Reused,
			wantState:   stateGone,
		},
		{
			name: "reused-outside-grace",
			mod: func(r *store.Redemption, _, gen1 []byte, t2 time.Time) {
				r.Generation, r.PresentedHash, r.Now = 1, gen1, t2.Add(time.Hour-time.Second)
			},
			wantOutcome: store.Reused,
			wantState:   stateGone,
		},
		{
			name: "reused-no-grace",
			mod: func(r *store.Redemption, _, gen1 []byte, t2 time.Time) {
				r.Generation, r.PresentedHash, r.Now, r.Grace = 1, gen1, t2, 0
			},
			wantOutcome: store.Reused,
			wantState:   stateGone,
		},
		{
			name: "reused-older-generation-within-grace",
			mod: func(r *store.Redemption, gen0, _ []byte, t2 time.Time) {
				r.Generation, r.PresentedHash, r.Now = 0, gen0, t2.Add(time.Second)
			},
			wantOutcome: store.Reused,
			wantState:   stateGone,
		},
		{
			name: "rejected-unknown-token",
			mod: func(r *store.Redemption, _, _ []byte, _ time.Time) {
				r.PresentedHash = tokenHash("forged", 2, "")
			},
			wantOutcome: store.Rejected,
			wantReason:  store.ReasonUnknown,
			wantState:   stateUnchanged,
		},
		{
			name: "rejected-future-generation",
			mod: func(r *store.Redemption, _, _ []byte, _ time.Time) {
				r.Generation, r.PresentedHash = 3, tokenHash("forged", 3, "")
			},
			wantOutcome: store.Rejected,
			wantReason:  store.ReasonUnknown,
			wantState:   stateUnchanged,
		},
		{
			name: "rejected-empty-hash",
			mod: func(r *store.Redemption, _, _ []byte, _ time.Time) {
				r.PresentedHash = nil
			},
			wantOutcome: store.Rejected,
			wantReason:  store.ReasonUnknown,
			wantState:   stateUnchanged,
		},
		{
			name:    "not-found-unknown-family",
			mod:     func(r *store.Redemption, _, _ []byte, _ time.Time) { r.FamilyID = "fam-unknown" },
			wantErr: store.ErrNotFound,
		},
		{
			name:    "not-found-expired",
			mod:     func(r *store.Redemption, _, _ []byte, t2 time.Time) { r.Now = t2.Add(time.Hour) },
			wantErr: store.ErrNotFound,
		},
		{
			name: "not-found-expired-wrong-client",
			mod: func(r *store.Redemption, _, _ []byte, t2 time.Time) {
				r.Now, r.ClientID = t2.Add(time.Hour), "billing-worker"
			},
			wantErr: store.ErrNotFound,
		},
	}
	base := liveBase()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each case starts after the previous one ended, so that the
			// now values passed to the store never decrease.
			t0 := base.Add(time.Duration(i) * 2 * time.Hour)
			f := newFamily(fmt.Sprintf("fam-%02d", i), "user-1", t0)
			mustCreateFamily(t, s, f)
			gen0 := f.CurrentHash
			f = mustRotate(t, s, f, t0.Add(time.Minute))
			gen1 := f.CurrentHash
			t2 := t0.Add(2 * time.Minute)
			f = mustRotate(t, s, f, t2)

			r := rotation(f, t2.Add(time.Minute), grace, "next")
			if tc.mod != nil {
				tc.mod(&r, gen0, gen1, t2)
			}
			got, err := s.Redeem(ctx, r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Redeem error = %v, want %v", err, tc.wantErr)
				}
				wantNoFamily(t, s, r.FamilyID, r.Now)
				return
			}
			if err != nil {
				t.Fatalf("Redeem: %v", err)
			}
			if got.Outcome != tc.wantOutcome || got.Reason != tc.wantReason {
				t.Fatalf("Redeem = %v (%q), want %v (%q)", got.Outcome, got.Reason, tc.wantOutcome, tc.wantReason)
			}
			after := f
			if tc.wantState == stateRotated {
				after = rotated(f, r)
			}
			if d := DiffFamily(got.Family, after); d != "" {
				t.Fatalf("Redeemed.Family (-got +want):\n%s", d)
			}
			if tc.wantState == stateGone {
				wantNoFamily(t, s, f.ID, r.Now)
				_, err := s.Redeem(ctx, rotation(f, r.Now, grace, "late"))
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("Redeem of the newest token after reuse: error = %v, want ErrNotFound", err)
				}
				return
			}
			wantFamily(t, s, after, r.Now)
		})
	}
}

// testRedeemReplayScope checks that a replay within the grace must ask
// for the scope its rotation asked for, as a set, and that the family
// keeps that scope as long as the previous token.
func testRedeemReplayScope(t *testing.T, s store.Store) {
	ctx := context.Background()
	const grace = 10 * time.Second
	base := liveBase()
	f := newFamily("fam-replay-scope", "user-1", base)
	mustCreateFamily(t, s, f)
	r := rotation(f, base.Add(time.Second), grace, "narrow")
	r.Scope = []string{"profile", "orders:read"}
	got, err := s.Redeem(ctx, r)
	if err != nil || got.Outcome != store.Rotated {
		t.Fatalf("Redeem with a scope = %v, %v; want rotated", got.Outcome, err)
	}
	after := rotated(f, r)
	wantFamily(t, s, after, r.Now)
	for _, tc := range []struct {
		name  string
		scope []string
		want  store.Outcome
	}{
		{"same", []string{"profile", "orders:read"}, store.Replayed},
		{"same-other-order", []string{"orders:read", "profile"}, store.Replayed},
		{"narrower", []string{"profile"}, store.Rejected},
		{"none", nil, store.Rejected},
		{"wider", []string{"profile", "orders:read", "admin"}, store.Rejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			replay := r
			replay.Scope, replay.NewHash = tc.scope, tokenHash(f.ID, 1, "replay")
			got, err := s.Redeem(ctx, replay)
			if err != nil {
				t.Fatalf("Redeem: %v", err)
			}
			if got.Outcome != tc.want || tc.want == store.Rejected && got.Reason != store.ReasonScope {
				t.Fatalf("replay with scope %q = %v (%q), want %v", tc.scope, got.Outcome, got.Reason, tc.want)
			}
			if d := DiffFamily(got.Family, after); d != "" {
				t.Fatalf("Redeemed.Family (-got +want):\n%s", d)
			}
			wantFamily(t, s, after, r.Now)
		})
	}
}

func testRedeemFirstGeneration(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	// A fresh family has no previous token: nothing but its current hash
	// may match, an empty one included.
	tests := []struct {
		name string
		hash []byte
	}{
		{"empty-hash", nil},
		{"zero-length-hash", []byte{}},
		{"unknown-hash", tokenHash("forged", 0, "")},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t0 := base.Add(time.Duration(i) * 2 * time.Second)
			f := newFamily(fmt.Sprintf("fam-%d", i), "user-1", t0)
			mustCreateFamily(t, s, f)
			r := rotation(f, t0.Add(time.Second), time.Hour, "")
			r.PresentedHash = tc.hash
			got, err := s.Redeem(ctx, r)
			if err != nil {
				t.Fatalf("Redeem: %v", err)
			}
			if got.Outcome != store.Rejected || got.Reason != store.ReasonUnknown {
				t.Fatalf("Redeem = %v (%q), want rejected (%q)", got.Outcome, got.Reason, store.ReasonUnknown)
			}
			wantFamily(t, s, f, r.Now)
		})
	}
}

func testRedeemChain(t *testing.T, s store.Store) {
	base := liveBase()
	f := newFamily("fam-chain", "user-1", base)
	mustCreateFamily(t, s, f)
	for i := 1; i <= 20; i++ {
		f = mustRotate(t, s, f, base.Add(time.Duration(i)*time.Minute))
	}
	if f.Generation != 20 {
		t.Fatalf("Generation = %d, want 20", f.Generation)
	}
	wantFamily(t, s, f, f.LastUsed)
}

// redeemConcurrently has n goroutines redeem f's current token at the same
// now, each offering its own successor, and returns what each got.
func redeemConcurrently(t *testing.T, s store.Store, f store.Family, n int, now time.Time, grace time.Duration) ([]store.Redemption, []store.Redeemed, []error) {
	t.Helper()
	rs := make([]store.Redemption, n)
	got := make([]store.Redeemed, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		rs[i] = rotation(f, now, grace, fmt.Sprintf("redeemer-%d", i))
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.Redeem(context.Background(), rs[i])
		})
	}
	close(start)
	wg.Wait()
	return rs, got, errs
}

// Concurrent redemptions: rounds of concurrentRedeemers goroutines each.
// Later rounds find the backend's connections warm, so that the redeemers
// really overlap.
const (
	concurrentRedeemers = 32
	concurrentRounds    = 8
)

// raceRounds runs concurrentRounds rounds, each of concurrentRedeemers
// redeeming the current token of a fresh family at once with grace, and
// hands each round's results to check.
func raceRounds(t *testing.T, s store.Store, grace time.Duration,
	check func(t *testing.T, f store.Family, now time.Time, rs []store.Redemption, got []store.Redeemed, errs []error)) {
	base := liveBase()
	for round := range concurrentRounds {
		t.Run(fmt.Sprintf("round-%d", round), func(t *testing.T) {
			t0 := base.Add(time.Duration(round) * 2 * time.Minute)
			f := newFamily(fmt.Sprintf("fam-race-%d", round), "user-1", t0)
			mustCreateFamily(t, s, f)
			now := t0.Add(time.Minute)
			rs, got, errs := redeemConcurrently(t, s, f, concurrentRedeemers, now, grace)
			check(t, f, now, rs, got, errs)
		})
	}
}

func testRedeemConcurrentNoGrace(t *testing.T, s store.Store) {
	raceRounds(t, s, 0, func(t *testing.T, f store.Family, now time.Time, _ []store.Redemption, got []store.Redeemed, errs []error) {
		// One redeemer rotates; the first to come after it presents a
		// rotated token outside the (empty) grace and revokes the
		// family; everyone later finds no family.
		var rotatedN, reusedN, notFoundN int
		for i := range got {
			switch {
			case errors.Is(errs[i], store.ErrNotFound):
				notFoundN++
			case errs[i] != nil:
				t.Errorf("redeemer %d: %v", i, errs[i])
			case got[i].Outcome == store.Rotated:
				rotatedN++
			case got[i].Outcome == store.Reused:
				reusedN++
			default:
				t.Errorf("redeemer %d: outcome %v (%q)", i, got[i].Outcome, got[i].Reason)
			}
		}
		if rotatedN != 1 || reusedN != 1 || notFoundN != concurrentRedeemers-2 {
			t.Fatalf("outcomes: %d rotated, %d reused, %d not found; want 1, 1, %d",
				rotatedN, reusedN, notFoundN, concurrentRedeemers-2)
		}
		wantNoFamily(t, s, f.ID, now)
	})
}

func testRedeemConcurrentGrace(t *testing.T, s store.Store) {
	raceRounds(t, s, 10*time.Second, func(t *testing.T, f store.Family, now time.Time, rs []store.Redemption, got []store.Redeemed, errs []error) {
		winner := -1
		for i := range got {
			if errs[i] != nil {
				t.Fatalf("redeemer %d: %v", i, errs[i])
			}
			if got[i].Outcome == store.Rotated {
				if winner >= 0 {
					t.Fatalf("redeemers %d and %d both rotated", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no redeemer rotated")
		}
		want := rotated(f, rs[winner])
		for i := range got {
			if i == winner {
				continue
			}
			if got[i].Outcome != store.Replayed {
				t.Fatalf("redeemer %d: outcome %v (%q), want replayed", i, got[i].Outcome, got[i].Reason)
			}
			// Every replay answers with the winner's successor.
			if d := DiffFamily(got[i].Family, want); d != "" {
				t.Fatalf("redeemer %d: Redeemed.Family (-got +want):\n%s", i, d)
			}
		}
		wantFamily(t, s, want, now)
	})
}
