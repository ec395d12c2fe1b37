package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

func testLockout(t *testing.T, s store.Store) {
	ctx := context.Background()
	const window = 15 * time.Minute
	base := liveBase()
	firstEnd := base.Add(window)
	secondStart := firstEnd.Add(time.Minute)
	secondEnd := secondStart.Add(window)
	// The steps run in order on one key.
	tests := []struct {
		name      string
		at        time.Time
		add       bool // AddFailure, else Failures
		reset     bool // ResetFailures first
		wantCount int
		wantUntil time.Time // checked when wantCount > 0
	}{
		{"none-yet", base, false, false, 0, time.Time{}},
		{"first", base, true, false, 1, firstEnd},
		{"second", base.Add(time.Minute), true, false, 2, firstEnd},
		{"third-late-in-window", firstEnd.Add(-time.Second), true, false, 3, firstEnd},
		{"read-in-window", firstEnd.Add(-time.Second), false, false, 3, firstEnd},
		{"read-at-window-end", firstEnd, false, false, 0, time.Time{}},
		{"restart-after-window", secondStart, true, false, 1, secondEnd},
		{"second-in-new-window", secondStart.Add(time.Second), true, false, 2, secondEnd},
		{"reset", secondStart.Add(2 * time.Second), false, true, 0, time.Time{}},
		{"restart-after-reset", secondStart.Add(3 * time.Second), true, false, 1, secondStart.Add(3*time.Second + window)},
	}
	const key = "user:alice"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.reset {
				if err := s.ResetFailures(ctx, key); err != nil {
					t.Fatalf("ResetFailures: %v", err)
				}
			}
			var count int
			var until time.Time
			var err error
			if tc.add {
				count, until, err = s.AddFailure(ctx, key, tc.at, window)
			} else {
				count, until, err = s.Failures(ctx, key, tc.at)
			}
			if err != nil {
				t.Fatalf("add=%t: %v", tc.add, err)
			}
			if count != tc.wantCount {
				t.Fatalf("add=%t: count = %d, want %d", tc.add, count, tc.wantCount)
			}
			if tc.wantCount > 0 && !until.Equal(tc.wantUntil) {
				t.Fatalf("add=%t: until = %v, want %v", tc.add, until, tc.wantUntil)
			}
			// Reading never changes the count.
			count, _, err = s.Failures(ctx, key, tc.at)
			if err != nil || count != tc.wantCount {
				t.Fatalf("Failures after the step = %d, %v; want %d", count, err, tc.wantCount)
			}
		})
	}
	if err := s.ResetFailures(ctx, "user:unknown"); err != nil {
		t.Fatalf("ResetFailures of an unknown key: %v", err)
	}
}

func testLockoutKeysIndependent(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	keys := []string{"user:alice", "user:bob", "ip:192.0.2.1"}
	for i, key := range keys {
		for range i + 1 {
			if _, _, err := s.AddFailure(ctx, key, base, time.Hour); err != nil {
				t.Fatalf("AddFailure(%s): %v", key, err)
			}
		}
	}
	if err := s.ResetFailures(ctx, "user:bob"); err != nil {
		t.Fatalf("ResetFailures: %v", err)
	}
	for key, want := range map[string]int{"user:alice": 1, "user:bob": 0, "ip:192.0.2.1": 3, "ip:192.0.2.2": 0} {
		count, _, err := s.Failures(ctx, key, base.Add(time.Second))
		if err != nil {
			t.Fatalf("Failures(%s): %v", key, err)
		}
		if count != want {
			t.Errorf("Failures(%s) = %d, want %d", key, count, want)
		}
	}
}

// testLockoutRefund takes reservations back: the count drops by one and
// the window keeps its end; a window left empty is gone, so the next
// failure opens a new one; nothing happens without an open window.
func testLockoutRefund(t *testing.T, s store.Store) {
	ctx := context.Background()
	const window = 15 * time.Minute
	const key = "ip:198.51.100.0"
	base := liveBase()
	end := base.Add(window)
	expect := func(at time.Time, wantCount int, wantUntil time.Time) {
		t.Helper()
		count, until, err := s.Failures(ctx, key, at)
		if err != nil {
			t.Fatalf("Failures: %v", err)
		}
		if count != wantCount || (wantCount > 0 && !until.Equal(wantUntil)) {
			t.Fatalf("Failures = %d until %v, want %d until %v", count, until, wantCount, wantUntil)
		}
	}
	refund := func(at time.Time) {
		t.Helper()
		if err := s.RefundFailure(ctx, key, at); err != nil {
			t.Fatalf("RefundFailure: %v", err)
		}
	}
	refund(base) // no window: nothing to take back
	expect(base, 0, time.Time{})
	for range 3 {
		if _, _, err := s.AddFailure(ctx, key, base, window); err != nil {
			t.Fatal(err)
		}
	}
	refund(base.Add(time.Minute))
	expect(base.Add(time.Minute), 2, end)
	refund(base.Add(2 * time.Minute))
	refund(base.Add(2 * time.Minute))
	expect(base.Add(2*time.Minute), 0, time.Time{})
	refund(base.Add(2 * time.Minute)) // never below zero
	later := base.Add(3 * time.Minute)
	if n, until, err := s.AddFailure(ctx, key, later, window); err != nil || n != 1 || !until.Equal(later.Add(window)) {
		t.Fatalf("AddFailure after the window emptied = %d until %v, %v; want 1 until %v", n, until, err, later.Add(window))
	}
	// A refund after the window ended changes nothing, and does not
	// revive the window.
	refund(later.Add(window))
	expect(later.Add(window), 0, time.Time{})
	expect(later, 1, later.Add(window))
	// Other keys are untouched.
	if _, _, err := s.AddFailure(ctx, "ip:192.0.2.0", later, window); err != nil {
		t.Fatal(err)
	}
	refund(later)
	if n, _, err := s.Failures(ctx, "ip:192.0.2.0", later); err != nil || n != 1 {
		t.Fatalf("Failures of another key = %d, %v; want 1", n, err)
	}
}

// testLockoutRefundConcurrent runs reservations and refunds at once: none
// is lost, so the count ends at the failures that were kept.
func testLockoutRefundConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const key, kept, refunded = "ip:203.0.113.0", 15, 25
	base := liveBase()
	var wg sync.WaitGroup
	errs := make(chan error, kept+refunded)
	for i := range kept + refunded {
		wg.Go(func() {
			if _, _, err := s.AddFailure(ctx, key, base, time.Hour); err != nil {
				errs <- err
				return
			}
			if i < refunded {
				if err := s.RefundFailure(ctx, key, base); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _, err := s.Failures(ctx, key, base); err != nil || n != kept {
		t.Fatalf("Failures = %d, %v; want %d", n, err, kept)
	}
}

func testRevokedTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := liveBase()
	until := base.Add(time.Hour)
	for _, jti := range []string{"jti-1", "jti-2"} {
		if err := s.RevokeToken(ctx, jti, until); err != nil {
			t.Fatalf("RevokeToken(%s): %v", jti, err)
		}
	}
	tests := []struct {
		name string
		jti  string
		at   time.Time
		want bool
	}{
		{"revoked", "jti-1", base, true},
		{"other-revoked", "jti-2", base, true},
		{"never-revoked", "jti-3", base, false},
		{"last-instant", "jti-1", until.Add(-time.Second), true},
		{"at-until", "jti-1", until, false},
		{"after-until", "jti-2", until.Add(time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.IsRevoked(ctx, tc.jti, tc.at)
			if err != nil {
				t.Fatalf("IsRevoked: %v", err)
			}
			if got != tc.want {
				t.Fatalf("IsRevoked(%s, until%+v) = %t, want %t", tc.jti, tc.at.Sub(until), got, tc.want)
			}
		})
	}
}
