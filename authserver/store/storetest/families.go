package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

func testFamilyCreateGet(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	f := newFamily("fam-1", "user-1", base)
	mustCreateFamily(t, s, f)
	wantFamily(t, s, f, base)

	bare := newFamily("fam-bare", "user-1", base)
	bare.Claims, bare.Scope = nil, nil
	mustCreateFamily(t, s, bare)
	wantFamily(t, s, bare, base)

	dup := newFamily("fam-1", "user-2", base.Add(time.Second))
	dup.CurrentHash = tokenHash("other", 0, "")
	ensureUser(t, s, dup.UserID)
	if err := s.CreateFamily(ctx, dup); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateFamily with a taken id: error = %v, want ErrAlreadyExists", err)
	}
	wantFamily(t, s, f, base.Add(time.Second))
	wantNoFamily(t, s, "fam-unknown", base.Add(time.Second))
}

func testFamilyExpiry(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	// Every family lives an idle hour; "capped" dies two hours after login
	// whatever its use.
	tests := []struct {
		name      string
		lifetime  time.Duration   // ExpiresAt - Created
		rotations []time.Duration // after base
		alive     time.Duration   // last instant alive, after base
	}{
		{"idle", 24 * time.Hour, nil, time.Hour - time.Second},
		{"idle-after-rotation", 24 * time.Hour, []time.Duration{30 * time.Minute}, 90*time.Minute - time.Second},
		{"idle-after-two-rotations", 24 * time.Hour, []time.Duration{30 * time.Minute, 80 * time.Minute}, 140*time.Minute - time.Second},
		{"absolute", 2 * time.Hour, []time.Duration{50 * time.Minute, 100 * time.Minute}, 2*time.Hour - time.Second},
		{"absolute-before-idle", 30 * time.Minute, nil, 30*time.Minute - time.Second},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each case starts after the previous one ended, so that the
			// now values passed to the store never decrease.
			base := base.Add(time.Duration(i) * 3 * time.Hour)
			f := newFamily("fam-"+tc.name, "user-1", base)
			f.ExpiresAt = base.Add(tc.lifetime)
			mustCreateFamily(t, s, f)
			for _, at := range tc.rotations {
				f = mustRotate(t, s, f, base.Add(at))
			}
			if got, want := f.Expiry(), base.Add(tc.alive+time.Second); !got.Equal(want) {
				t.Fatalf("test table is inconsistent: Expiry() = %v, want %v", got, want)
			}
			wantFamily(t, s, f, base.Add(tc.alive))

			dead := base.Add(tc.alive + time.Second)
			wantNoFamily(t, s, f.ID, dead)
			_, err := s.Redeem(ctx, rotation(f, dead, 0, ""))
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Redeem at expiry: error = %v, want ErrNotFound", err)
			}
			list, err := s.ListFamilies(ctx, f.UserID, dead)
			if err != nil {
				t.Fatalf("ListFamilies: %v", err)
			}
			if slices.Contains(familyIDs(list), f.ID) {
				t.Fatalf("ListFamilies at expiry lists %s", f.ID)
			}
		})
	}
}

func testFamilyRevoke(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	f, other := newFamily("fam-1", "user-1", base), newFamily("fam-2", "user-1", base)
	mustCreateFamily(t, s, f)
	mustCreateFamily(t, s, other)
	f = mustRotate(t, s, f, base.Add(time.Minute))

	for i := range 2 {
		if err := s.RevokeFamily(ctx, f.ID); err != nil {
			t.Fatalf("RevokeFamily #%d: %v", i+1, err)
		}
	}
	if err := s.RevokeFamily(ctx, "fam-unknown"); err != nil {
		t.Fatalf("RevokeFamily of an unknown family: %v", err)
	}
	now := base.Add(2 * time.Minute)
	wantNoFamily(t, s, f.ID, now)
	for _, r := range []store.Redemption{
		rotation(f, now, time.Hour, ""),
		{FamilyID: f.ID, ClientID: f.ClientID, Generation: 0, PresentedHash: f.PreviousHash, Now: now, Grace: time.Hour},
	} {
		if _, err := s.Redeem(ctx, r); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Redeem of generation %d after RevokeFamily: error = %v, want ErrNotFound", r.Generation, err)
		}
	}
	wantFamily(t, s, other, now)
	list, err := s.ListFamilies(ctx, "user-1", now)
	if err != nil {
		t.Fatalf("ListFamilies: %v", err)
	}
	if got, want := familyIDs(list), []string{other.ID}; !slices.Equal(got, want) {
		t.Fatalf("ListFamilies = %q, want %q", got, want)
	}
}

func testFamilyList(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	empty, err := s.ListFamilies(ctx, "user-1", base)
	if err != nil {
		t.Fatalf("ListFamilies on an empty store: %v", err)
	}
	if len(empty) != 0 {
		t.Fatalf("ListFamilies on an empty store returned %d families", len(empty))
	}

	// Created out of order, so that the order of the answer is the
	// store's doing.
	oldest := newFamily("fam-a", "user-1", base)
	short := newFamily("fam-short", "user-1", base.Add(time.Second))
	short.IdleTTL = time.Minute
	middle := newFamily("fam-b", "user-1", base.Add(2*time.Second))
	newest := newFamily("fam-c", "user-1", base.Add(3*time.Second))
	revoked := newFamily("fam-revoked", "user-1", base)
	foreign := newFamily("fam-foreign", "user-2", base)
	for _, f := range []store.Family{newest, short, oldest, revoked, middle, foreign} {
		mustCreateFamily(t, s, f)
	}
	if err := s.RevokeFamily(ctx, revoked.ID); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	middle = mustRotate(t, s, middle, base.Add(4*time.Second))

	tests := []struct {
		name string
		user string
		now  time.Time
		want []store.Family
	}{
		{"all-live", "user-1", base.Add(4 * time.Second), []store.Family{oldest, short, middle, newest}},
		{"short-expired", "user-1", short.Expiry(), []store.Family{oldest, middle, newest}},
		{"other-user", "user-2", short.Expiry(), []store.Family{foreign}},
		{"unknown-user", "user-3", short.Expiry(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListFamilies(ctx, tc.user, tc.now)
			if err != nil {
				t.Fatalf("ListFamilies: %v", err)
			}
			if gotIDs, wantIDs := familyIDs(got), familyIDs(tc.want); !slices.Equal(gotIDs, wantIDs) {
				t.Fatalf("ListFamilies ids = %q, want %q", gotIDs, wantIDs)
			}
			for i := range got {
				if d := DiffFamily(got[i], tc.want[i]); d != "" {
					t.Errorf("ListFamilies entry %s (-got +want):\n%s", got[i].ID, d)
				}
			}
		})
	}
}

func testFamilyRevokeUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	for i := range 3 {
		f := newFamily(fmt.Sprintf("fam-u1-%d", i), "user-1", base.Add(time.Duration(i)*time.Second))
		mustCreateFamily(t, s, f)
		if i == 1 {
			mustRotate(t, s, f, base.Add(10*time.Second))
		}
	}
	foreign := newFamily("fam-u2", "user-2", base)
	mustCreateFamily(t, s, foreign)
	now := base.Add(time.Minute)

	tests := []struct {
		name string
		user string
		want int
	}{
		{"revoke", "user-1", 3},
		{"again", "user-1", 0},
		{"unknown-user", "user-3", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := s.RevokeUserFamilies(ctx, tc.user)
			if err != nil {
				t.Fatalf("RevokeUserFamilies: %v", err)
			}
			if n != tc.want {
				t.Fatalf("RevokeUserFamilies = %d, want %d", n, tc.want)
			}
			list, err := s.ListFamilies(ctx, tc.user, now)
			if err != nil {
				t.Fatalf("ListFamilies: %v", err)
			}
			if len(list) != 0 {
				t.Fatalf("ListFamilies after RevokeUserFamilies = %q, want none", familyIDs(list))
			}
			wantNoFamily(t, s, "fam-u1-0", now)
			wantFamily(t, s, foreign, now)
		})
	}
}
