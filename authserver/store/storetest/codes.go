package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// newCode returns a code issued at base that lives 60 s.
func newCode(name string, base time.Time) store.AuthCode {
	h := sha256.Sum256([]byte("code:" + name))
	return store.AuthCode{
		Hash:          h[:],
		ClientID:      testClient,
		RedirectURI:   "https://app.example.com/callback",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		UserID:        "u-1",
		UserName:      "alice",
		Scope:         testScope,
		AuthTime:      base,
		ExpiresAt:     base.Add(60 * time.Second),
	}
}

func testCodeRedeem(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	c := newCode("a", base)
	if err := s.SaveCode(ctx, c); err != nil {
		t.Fatalf("SaveCode: %v", err)
	}
	if err := s.SaveCode(ctx, c); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("SaveCode again: %v, want ErrAlreadyExists", err)
	}
	got, err := s.RedeemCode(ctx, c.Hash, "fam-1", base.Add(time.Second))
	if err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	want := c
	want.FamilyID = "fam-1"
	if !got.AuthTime.Equal(want.AuthTime) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("RedeemCode times %v, %v; want %v, %v", got.AuthTime, got.ExpiresAt, want.AuthTime, want.ExpiresAt)
	}
	got.AuthTime, got.ExpiresAt, want.AuthTime, want.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RedeemCode = %+v\nwant %+v", got, want)
	}
	// The second redemption fails and names the first one's family, even
	// when it offers another.
	got, err = s.RedeemCode(ctx, c.Hash, "fam-2", base.Add(2*time.Second))
	if !errors.Is(err, store.ErrCodeUsed) {
		t.Fatalf("second RedeemCode: %v, want ErrCodeUsed", err)
	}
	if got.FamilyID != "fam-1" || got.UserID != c.UserID {
		t.Fatalf("second RedeemCode returned family %q user %q, want fam-1 u-1", got.FamilyID, got.UserID)
	}
}

func testCodeNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	c := newCode("b", base)
	if err := s.SaveCode(ctx, c); err != nil {
		t.Fatalf("SaveCode: %v", err)
	}
	other := newCode("unknown", base)
	if _, err := s.RedeemCode(ctx, other.Hash, "fam", base); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RedeemCode(unknown): %v, want ErrNotFound", err)
	}
	if _, err := s.RedeemCode(ctx, c.Hash, "fam", c.ExpiresAt); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RedeemCode at expiry: %v, want ErrNotFound", err)
	}
	// The expired attempt consumed nothing it could not: the code is
	// still dead a second later, and alive just before.
	d := newCode("c", base)
	if err := s.SaveCode(ctx, d); err != nil {
		t.Fatalf("SaveCode: %v", err)
	}
	if _, err := s.RedeemCode(ctx, d.Hash, "fam", d.ExpiresAt.Add(-time.Second)); err != nil {
		t.Fatalf("RedeemCode one second before expiry: %v", err)
	}
}

// testCodeConcurrent races redemptions of one code: exactly one wins and
// every loser learns the winner's family.
func testCodeConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	c := newCode("race", base)
	if err := s.SaveCode(ctx, c); err != nil {
		t.Fatalf("SaveCode: %v", err)
	}
	const n = 8
	type result struct {
		family string
		err    error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got, err := s.RedeemCode(ctx, c.Hash, fmt.Sprintf("fam-%d", i), base.Add(time.Second))
			results[i] = result{got.FamilyID, err}
		}()
	}
	close(start)
	wg.Wait()
	winner := ""
	for i, r := range results {
		switch {
		case r.err == nil:
			if winner != "" {
				t.Fatalf("two winners: %s and %s", winner, r.family)
			}
			winner = r.family
			if r.family != fmt.Sprintf("fam-%d", i) {
				t.Fatalf("winner %d got family %s", i, r.family)
			}
		case !errors.Is(r.err, store.ErrCodeUsed):
			t.Fatalf("redemption %d: %v", i, r.err)
		}
	}
	if winner == "" {
		t.Fatal("no redemption won")
	}
	for i, r := range results {
		if r.err != nil && r.family != winner {
			t.Fatalf("loser %d names family %q, want the winner's %q", i, r.family, winner)
		}
	}
}
