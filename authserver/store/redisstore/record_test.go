package redisstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
)

// recordCases are families at the edges of the record layout: varints
// changing width, negative offsets, long and packed fields.
func recordCases(now time.Time) map[string]store.Family {
	now = now.Truncate(time.Millisecond)
	server := store.Family{
		ID:       base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef")),
		UserID:   "u_" + base64.RawURLEncoding.EncodeToString([]byte("fedcba9876543210")),
		ClientID: "mobile-app", Scope: []string{"profile", "orders:read"},
		Created: now.Add(-6 * 24 * time.Hour), LastUsed: now.Add(-time.Hour),
		IdleTTL: 168 * time.Hour, ExpiresAt: now.Add(22 * 24 * time.Hour),
		Generation: 200, CurrentHash: hash("server"),
	}
	cases := map[string]store.Family{"server": server}
	for _, gen := range []uint32{0, 127, 16383, math.MaxUint32 - 1} {
		f := server
		f.ID, f.Generation = fmt.Sprintf("fam-gen-%d", gen), gen
		cases[f.ID] = f
	}
	for _, v := range []uint64{1, 300, 1<<53 - 1} {
		f := server
		f.ID, f.CredentialVersion = fmt.Sprintf("fam-version-%d", v), v
		cases[f.ID] = f
	}
	f := server
	f.ID, f.LastUsed = "fam-last-used-before-created", server.Created.Add(-5*time.Second)
	cases[f.ID] = f
	f = server
	f.ID, f.UserID, f.ClientID = "fam-long-fields", strings.Repeat("user ", 60), strings.Repeat("c", 300)
	f.Scope = strings.Fields(strings.Repeat("scope:read ", 50))
	f.Claims = map[string]string{"role": "buyer", "tenant": strings.Repeat("t", 200)}
	cases[f.ID] = f
	for i, user := range []string{"", "user@example.com", "abcd\nefgh", "u_1"} {
		f = server
		f.ID, f.UserID, f.Scope = fmt.Sprintf("fam-user-%d", i), user, nil
		cases[f.ID] = f
	}
	f = server
	f.ID, f.IdleTTL, f.ExpiresAt = "fam-long-lifetimes", 10*365*24*time.Hour, server.Created.Add(20*365*24*time.Hour)
	cases[f.ID] = f
	return cases
}

func TestRecordRoundTrip(t *testing.T) {
	for name, f := range recordCases(time.Now().UTC()) {
		t.Run(name, func(t *testing.T) {
			rec, err := encodeFamily(f)
			if err != nil {
				t.Fatalf("encodeFamily: %v", err)
			}
			f.PreviousHash, f.SealedNext, f.RotationScope = hash("previous"), []byte("sealed"), []string{"a", "b:c"}
			got, err := decodeFamily(f.ID, rec, encodeGrace(f.Generation, f.PreviousHash, f.RotationScope, f.SealedNext))
			if err != nil {
				t.Fatalf("decodeFamily: %v", err)
			}
			if !reflect.DeepEqual(got, f) {
				t.Fatalf("decodeFamily(encodeFamily(f)) =\n%+v\nwant\n%+v", got, f)
			}
			// A grace record of another generation is not the family's.
			got, err = decodeFamily(f.ID, rec, encodeGrace(f.Generation+1, f.PreviousHash, f.RotationScope, f.SealedNext))
			if err != nil || got.PreviousHash != nil || got.SealedNext != nil || got.RotationScope != nil {
				t.Fatalf("decodeFamily with a stale grace record = %x, %q, %v; want none", got.PreviousHash, got.SealedNext, err)
			}
			for i := range rec {
				if _, err := decodeFamily(f.ID, rec[:i], nil); err == nil && i < len(rec)-len(f.CurrentHash) {
					t.Fatalf("decodeFamily of the first %d of %d bytes succeeded", i, len(rec))
				}
			}
		})
	}
}

// TestRecordSize checks the sizes that docs/redis.md accounts for: the
// family record of the server's families takes a 112-byte allocation
// (3 bytes of header, the record, a NUL) for any generation below 2^21.
func TestRecordSize(t *testing.T) {
	f := recordCases(time.Now().UTC())["server"]
	f.Generation = 1<<21 - 1
	f.LastUsed = f.ExpiresAt.Add(-time.Millisecond) // the widest offset a live family has
	rec, err := encodeFamily(f)
	if err != nil {
		t.Fatalf("encodeFamily: %v", err)
	}
	if n := 3 + len(rec) + 1; n > 112 {
		t.Errorf("family record of %d bytes takes %d with its header, more than 112", len(rec), n)
	}
	if n := len(encodeGrace(f.Generation, hash(""), nil, make([]byte, 97))); 3+n+1 > 160 {
		t.Errorf("grace record of %d bytes takes more than 160 with its header", n)
	}
}

// TestRecordScript has the Redeem script rotate, replay and reuse the
// recordCases families, so that its varint code meets every width the Go
// code writes and reads.
func TestRecordScript(t *testing.T) {
	addr := redistest.SharedAddr(t)
	prefix := redistest.Prefix(t)
	redistest.CleanupPrefix(t, []string{addr}, prefix)
	ctx := context.Background()
	s, err := Open(ctx, Options{Addrs: []string{addr}, KeyPrefix: prefix})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	// Redis expires grace records by its own clock: the rotations happen
	// at the real time.
	now := time.Now().UTC().Truncate(time.Millisecond)
	for name, f := range recordCases(now) {
		t.Run(name, func(t *testing.T) {
			if err := s.CreateFamily(ctx, f); err != nil {
				t.Fatalf("CreateFamily: %v", err)
			}
			r := store.Redemption{
				FamilyID: f.ID, ClientID: f.ClientID, Generation: f.Generation, PresentedHash: f.CurrentHash,
				NewHash: hash(name + "/next"), SealedNext: []byte("sealed " + name), Now: now, Grace: time.Hour,
			}
			res, err := s.Redeem(ctx, r)
			if err != nil || res.Outcome != store.Rotated {
				t.Fatalf("Redeem = %v, %v; want rotated", res.Outcome, err)
			}
			want := f
			want.Generation++
			want.LastUsed, want.PreviousHash, want.CurrentHash, want.SealedNext = now, f.CurrentHash, r.NewHash, r.SealedNext
			got, err := s.GetFamily(ctx, f.ID, now)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("GetFamily after the rotation =\n%+v, %v\nwant\n%+v", got, err, want)
			}

			r.Now = now.Add(time.Second)
			res, err = s.Redeem(ctx, r)
			if err != nil || res.Outcome != store.Replayed || !bytes.Equal(res.Family.SealedNext, r.SealedNext) {
				t.Fatalf("Redeem of the previous token = %v with %q, %v; want replayed with %q", res.Outcome, res.Family.SealedNext, err, r.SealedNext)
			}
			if f.Generation > 0 {
				r.Generation, r.PresentedHash = f.Generation-1, hash("an older token")
				res, err = s.Redeem(ctx, r)
				if err != nil || res.Outcome != store.Reused {
					t.Fatalf("Redeem of an older generation = %v, %v; want reused", res.Outcome, err)
				}
			}
		})
	}
}
