package keys_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/keystest"
)

func ring(t *testing.T, current []byte, previous ...[]byte) *keys.Sealer {
	t.Helper()
	s, err := keys.NewSealer(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storedKEKs returns the kek id recorded beside each sealed key.
func storedKEKs(t *testing.T, st *keystest.Store) []string {
	t.Helper()
	var rec struct {
		Keys []struct {
			KEK string `json:"kek"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(st.Data(), &rec); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range rec.Keys {
		out = append(out, k.KEK)
	}
	return out
}

// TestKEKRotation walks a key-encryption key rotation through the
// Managers of a rolling update: K2 is first added as a previous key, then
// made current (the first replica to start with it reseals the set, the
// others find nothing to do), and once every record is sealed with K2, K1
// can go. At each step every ring in use opens the stored set, signs the
// same key, and a ring that lacks the sealing key fails with an error that
// names the key it needs.
func TestKEKRotation(t *testing.T) {
	ctx := context.Background()
	k1, k2 := newKEK(t), newKEK(t)
	id1, id2 := keys.KEKID(k1), keys.KEKID(k2)
	st := &keystest.Store{}
	var audit auditLog
	old := newManager(t, st, ring(t, k1), keys.Options{Logger: audit.logger()})
	kid := activeKID(old)
	if got := storedKEKs(t, st); len(got) != 1 || got[0] != id1 {
		t.Fatalf("records sealed by %v, want [%s]", got, id1)
	}

	// Step 1: K2 known everywhere, K1 still seals: nothing to reseal.
	step1 := newManager(t, st, ring(t, k1, k2), keys.Options{Logger: audit.logger()})
	if audit.count(keys.EventResealed) != 0 {
		t.Fatal("a ring whose current key sealed everything resealed")
	}

	// Step 2: the first replica with K2 current reseals; a replica still
	// on step 1 reloads the resealed set, and so does a second K2 one.
	step2 := newManager(t, st, ring(t, k2, k1), keys.Options{Logger: audit.logger()})
	if got := storedKEKs(t, st); len(got) != 1 || got[0] != id2 {
		t.Fatalf("after reseal records sealed by %v, want [%s]", got, id2)
	}
	ev := audit.find(t, keys.EventResealed)
	if ev == nil || ev["kek"] != id2 || !strings.Contains(strings.Join(anyStrings(ev["from"]), ","), id1) {
		t.Errorf("reseal audit event %v", ev)
	}
	if err := step1.Reload(ctx); err != nil {
		t.Fatalf("step-1 replica reloading the resealed set: %v", err)
	}
	newManager(t, st, ring(t, k2, k1), keys.Options{Logger: audit.logger()})
	if n := audit.count(keys.EventResealed); n != 1 {
		t.Errorf("%d reseal events, want exactly 1", n)
	}
	rep, err := step2.Reseal(ctx)
	if err != nil || rep.Resealed != 0 || !maps.Equal(rep.SealedBy, map[string]int{id2: 1}) || rep.Current != id2 || len(rep.Previous) != 1 || rep.Previous[0] != id1 {
		t.Errorf("report after reseal = %+v, %v", rep, err)
	}

	// Step 3: K1 removed. The set opens with K2 alone; the same key signs.
	final := newManager(t, st, ring(t, k2), keys.Options{Logger: audit.logger()})
	for _, m := range []*keys.Manager{step1, step2, final} {
		if got := activeKID(m); got != kid {
			t.Errorf("active key %s, want %s: a reseal must not change keys", got, kid)
		}
	}

	// A ring without K2 cannot start, and says which key it needs.
	_, _, err = keys.LoadSet(ctx, st, ring(t, k1))
	if !errors.Is(err, keys.ErrSealed) || !strings.Contains(err.Error(), id2) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(k2)) {
		t.Errorf("loading with [K1] only: %v; want ErrSealed naming %s", err, id2)
	}
	if _, err := old.Reseal(ctx); !errors.Is(err, keys.ErrSealed) {
		t.Errorf("reseal by a ring without the sealing key: %v, want ErrSealed", err)
	}
}

// TestResealLegacyRecords: records stored before kek ids (the fixture,
// sealed the oldest way) are opened by trying each key of the ring, and
// the first start reseals them with an id.
func TestResealLegacyRecords(t *testing.T) {
	old, err := os.ReadFile("testdata/keyset-seal-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	st := &keystest.Store{}
	st.SetData(old)
	k2 := newKEK(t)
	m := newManager(t, st, ring(t, k2, newKEK(t), fixtureKEK()), keys.Options{})
	got := storedKEKs(t, st)
	if len(got) == 0 {
		t.Fatal("no record after start")
	}
	for _, id := range got {
		if id != keys.KEKID(k2) {
			t.Errorf("records sealed by %v after start, want K2's id on each", got)
		}
	}
	if _, err := m.Sign([]byte(`{}`)); err != nil {
		t.Error(err)
	}
}

func TestKEKID(t *testing.T) {
	k := newKEK(t)
	if keys.KEKID(k) != keys.KEKID(append([]byte(nil), k...)) || len(keys.KEKID(k)) != 16 {
		t.Errorf("KEKID %q not a stable 16-digit id", keys.KEKID(k))
	}
	if keys.KEKID(k) == keys.KEKID(newKEK(t)) {
		t.Error("two keys share an id")
	}
	if s := ring(t, k, k); len(s.PreviousKeyIDs()) != 0 {
		t.Error("the current key repeated as previous is kept twice")
	}
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
