package keys_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/keys"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

const retention = 16 * time.Minute

// threeKeys returns EdDSA keys a, b, c created one minute apart.
func threeKeys(t *testing.T) (a, b, c keys.Key) {
	t.Helper()
	var ks [3]keys.Key
	for i := range ks {
		k, err := keys.GenerateKey(keys.EdDSA, 0, t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		ks[i] = k
	}
	return ks[0], ks[1], ks[2]
}

// chain applies steps in order, stopping at the first error.
func chain(s keys.Set, steps ...func(keys.Set) (keys.Set, error)) (keys.Set, error) {
	for _, step := range steps {
		var err error
		if s, err = step(s); err != nil {
			return s, err
		}
	}
	return s, nil
}

func add(k keys.Key) func(keys.Set) (keys.Set, error) {
	return func(s keys.Set) (keys.Set, error) { return s.Add(k) }
}

func promote(k keys.Key, at time.Time) func(keys.Set) (keys.Set, error) {
	return func(s keys.Set) (keys.Set, error) { return s.Promote(k.KID(), at) }
}

func retire(k keys.Key, at time.Time) func(keys.Set) (keys.Set, error) {
	return func(s keys.Set) (keys.Set, error) { return s.Retire(k.KID(), at) }
}

func revoke(k keys.Key, at time.Time) func(keys.Set) (keys.Set, error) {
	return func(s keys.Set) (keys.Set, error) { return s.Revoke(k.KID(), at) }
}

func prune(at time.Time) func(keys.Set) (keys.Set, error) {
	return func(s keys.Set) (keys.Set, error) { return s.Prune(at), nil }
}

func states(s keys.Set, names map[string]string) string {
	var parts []string
	for _, k := range s.Published() {
		parts = append(parts, names[k.KID()]+"="+k.State().String())
	}
	return strings.Join(parts, " ")
}

func TestSetTransitions(t *testing.T) {
	a, b, c := threeKeys(t)
	names := map[string]string{a.KID(): "a", b.KID(): "b", c.KID(): "c"}
	t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	activeA := []func(keys.Set) (keys.Set, error){add(a), promote(a, t0)}

	for _, tc := range []struct {
		name       string
		steps      []func(keys.Set) (keys.Set, error)
		wantErr    error
		wantStates string // after the steps, when no error
	}{
		{"first-key-promoted", activeA, nil, "a=active"},
		{"add-next", append(activeA, add(b)), nil, "a=active b=next"},
		{"add-kid-reused", append(activeA, add(a)), keys.ErrKeyReused, ""},
		{"add-next-twice", []func(keys.Set) (keys.Set, error){add(a), add(a)}, keys.ErrKeyReused, ""},
		{"add-zero-key", []func(keys.Set) (keys.Set, error){add(keys.Key{})}, keys.ErrTransition, ""},
		{"add-revoked-kid", append(activeA, add(b), revoke(b, t1), add(b)), keys.ErrKeyReused, ""},
		{"promote-retires-previous", append(activeA, add(b), promote(b, t1)), nil, "a=retired b=active"},
		{"promote-active-refused", append(activeA, promote(a, t1)), keys.ErrTransition, ""},
		{"promote-retired-refused", append(activeA, add(b), promote(b, t1), promote(a, t2)), keys.ErrTransition, ""},
		{"promote-unknown", []func(keys.Set) (keys.Set, error){promote(a, t0)}, keys.ErrUnknownKey, ""},
		{"retire-next", append(activeA, add(b), retire(b, t1)), nil, "a=active b=retired"},
		{"retire-active-promotes-newest-next", append(activeA, add(b), add(c), retire(a, t1)), nil, "a=retired b=next c=active"},
		{"retire-only-active-refused", append(activeA, retire(a, t1)), keys.ErrNoSuccessor, ""},
		{"retire-retired-refused", append(activeA, add(b), promote(b, t1), retire(a, t2)), keys.ErrTransition, ""},
		{"revoke-next", append(activeA, add(b), revoke(b, t1)), nil, "a=active"},
		{"revoke-retired", append(activeA, add(b), promote(b, t1), revoke(a, t2)), nil, "b=active"},
		{"revoke-active-promotes-newest-next", append(activeA, add(b), add(c), revoke(a, t1)), nil, "b=next c=active"},
		{"revoke-only-active-refused", append(activeA, revoke(a, t1)), keys.ErrNoSuccessor, ""},
		{"revoke-unknown", append(activeA, revoke(b, t1)), keys.ErrUnknownKey, ""},
		{"prune-before-retires-keeps", append(activeA, add(b), promote(b, t1), prune(t1.Add(retention-time.Second))), nil, "a=retired b=active"},
		{"prune-at-retires-drops", append(activeA, add(b), promote(b, t1), prune(t1.Add(retention))), nil, "b=active"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chain(keys.NewSet(retention), tc.steps...)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := states(got, names); s != tc.wantStates {
				t.Fatalf("states (-got +want):\n- %s\n+ %s", s, tc.wantStates)
			}
			active := 0
			for _, k := range got.Published() {
				if k.State() == keys.Active {
					active++
				}
			}
			if active > 1 {
				t.Fatalf("%d active keys", active)
			}
		})
	}
}

func TestSetTimes(t *testing.T) {
	a, b, _ := threeKeys(t)
	t1 := t0.Add(time.Hour)
	s, err := chain(keys.NewSet(retention), add(a), promote(a, t0), add(b.WithActivates(t1)), promote(b, t1))
	if err != nil {
		t.Fatal(err)
	}
	gotA, _ := s.Key(a.KID())
	gotB, _ := s.Key(b.KID())
	if !gotA.Retires().Equal(t1.Add(retention)) {
		t.Errorf("retired key retires at %v, want %v", gotA.Retires(), t1.Add(retention))
	}
	if !gotB.Activates().Equal(t1) || !gotB.Retires().IsZero() {
		t.Errorf("active key: activates %v retires %v", gotB.Activates(), gotB.Retires())
	}
}

func TestSetIsImmutable(t *testing.T) {
	a, b, _ := threeKeys(t)
	before, err := chain(keys.NewSet(retention), add(a), promote(a, t0), add(b))
	if err != nil {
		t.Fatal(err)
	}
	snapshot := before.Published()
	for _, step := range []func(keys.Set) (keys.Set, error){
		promote(b, t0), retire(a, t0), revoke(a, t0), revoke(b, t0), prune(t0.Add(24 * time.Hour)),
	} {
		if _, err := step(before); err != nil {
			t.Fatal(err)
		}
	}
	after := before.Published()
	for i := range snapshot {
		if after[i].KID() != snapshot[i].KID() || after[i].State() != snapshot[i].State() {
			t.Fatalf("receiver changed: %v became %v", snapshot, after)
		}
	}
	if len(before.Revoked()) != 0 {
		t.Fatalf("receiver gained tombstones %v", before.Revoked())
	}
}

func TestSetDue(t *testing.T) {
	a, b, c := threeKeys(t)
	t1 := t0.Add(10 * time.Minute)
	s, err := chain(keys.NewSet(retention), add(a), promote(a, t0), add(b.WithActivates(t1)), add(c))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"before-activation", t1.Add(-time.Second), ""},
		{"at-activation", t1, b.KID()},
		{"later-unscheduled-key-ignored", t1.Add(time.Hour), b.KID()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			due, ok := s.Due(tc.at)
			if ok != (tc.want != "") || due.KID() != tc.want {
				t.Fatalf("Due = %q, %v; want %q", due.KID(), ok, tc.want)
			}
		})
	}
}

func TestStateText(t *testing.T) {
	for _, st := range []keys.State{keys.Next, keys.Active, keys.Retired} {
		text, err := st.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back keys.State
		if err := back.UnmarshalText(text); err != nil || back != st || string(text) != st.String() {
			t.Fatalf("%v: text %q, back %v, err %v", st, text, back, err)
		}
	}
	var bad keys.State
	if err := bad.UnmarshalText([]byte("revoked")); err == nil {
		t.Fatal("unknown state accepted")
	}
}

func TestKeyNeverPrintsPrivateKey(t *testing.T) {
	k, err := keys.GenerateKey(keys.RS256, 2048, t0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.NewSet(retention).Add(k)
	if err != nil {
		t.Fatal(err)
	}
	d := k.Signer().(*rsa.PrivateKey).D
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("key", "key", k, "set", s)
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s %x", k, k, k, k, k),
		fmt.Sprintf("%v %+v %#v %s", s, s, s, s),
		fmt.Sprint([]keys.Key{k}), logged.String(),
	} {
		if strings.Contains(out, d.String()) || strings.Contains(out, d.Text(16)) {
			t.Fatalf("private exponent printed: %.200s", out)
		}
		if !strings.Contains(out, k.KID()) {
			t.Fatalf("kid missing from %.200s", out)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	for _, tc := range []struct {
		name    string
		alg     string
		bits    int
		wantErr bool
	}{
		{"rs256", keys.RS256, 2048, false},
		{"es256", keys.ES256, 0, false},
		{"eddsa", keys.EdDSA, 0, false},
		{"rs256-1024-refused", keys.RS256, 1024, true},
		{"hs256-refused", "HS256", 0, true},
		{"none-refused", "none", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := keys.GenerateKey(tc.alg, tc.bits, t0)
			if tc.wantErr {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm() != tc.alg || k.State() != keys.Next || !k.Created().Equal(t0) || len(k.KID()) != 43 {
				t.Fatalf("got %v created %v", k, k.Created())
			}
			other, _ := keys.GenerateKey(tc.alg, tc.bits, t0)
			if other.KID() == k.KID() {
				t.Fatal("two keys share a kid")
			}
		})
	}
}

func TestMarshalUnmarshal(t *testing.T) {
	sealer := newSealer(t)
	var ks []keys.Key
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		k, err := keys.GenerateKey(alg, 2048, t0.Add(time.Duration(len(ks))*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	set, err := chain(keys.NewSet(retention), add(ks[0]), promote(ks[0], t0), add(ks[1]), promote(ks[1], t0.Add(time.Hour)),
		add(ks[2].WithActivates(t0.Add(2*time.Hour))))
	if err != nil {
		t.Fatal(err)
	}
	spare, _ := keys.GenerateKey(keys.EdDSA, 0, t0)
	if set, err = chain(set, add(spare), revoke(spare, t0)); err != nil {
		t.Fatal(err)
	}
	data, err := keys.Marshal(set, sealer)
	if err != nil {
		t.Fatal(err)
	}
	der := ks[0].Signer().(*rsa.PrivateKey).D.Bytes()
	if strings.Contains(string(data), string(der)) {
		t.Fatal("serialized set holds the private key in clear")
	}

	back, err := keys.Unmarshal(data, sealer)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(set) {
		t.Fatalf("round trip (-got +want):\n- %v\n+ %v", back, set)
	}
	if _, err := back.Add(spare); !errors.Is(err, keys.ErrKeyReused) {
		t.Fatalf("revoked kid accepted after round trip: %v", err)
	}
	for _, k := range back.Published() {
		if err := signAndCheck(k); err != nil {
			t.Fatalf("%v: unusable after round trip: %v", k, err)
		}
	}
	if _, err := keys.Unmarshal(data, newSealer(t)); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("Unmarshal with another KEK: %v, want ErrSealed", err)
	}
}

// TestUnmarshalRefuses edits a serialized set the way a bad backup, a bug
// or an attacker with write access to the store could.
func TestUnmarshalRefuses(t *testing.T) {
	sealer := newSealer(t)
	a, b, _ := threeKeys(t)
	set, err := chain(keys.NewSet(retention), add(a), promote(a, t0), add(b))
	if err != nil {
		t.Fatal(err)
	}
	data, err := keys.Marshal(set, sealer)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(rec map[string]any, ks []any)) []byte {
		var rec map[string]any
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatal(err)
		}
		f(rec, rec["keys"].([]any))
		out, _ := json.Marshal(rec)
		return out
	}
	field := func(k any, name string) any { return k.(map[string]any)[name] }
	set2 := func(k any, name string, v any) { k.(map[string]any)[name] = v }

	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"two-active", edit(func(_ map[string]any, ks []any) { set2(ks[1], "state", "active") }), keys.ErrTransition},
		{"sealed-keys-swapped", edit(func(_ map[string]any, ks []any) {
			sa, sb := field(ks[0], "sealed_key"), field(ks[1], "sealed_key")
			set2(ks[0], "sealed_key", sb)
			set2(ks[1], "sealed_key", sa)
		}), keys.ErrSealed},
		{"duplicate-kid", edit(func(rec map[string]any, ks []any) { rec["keys"] = []any{ks[0], ks[0]} }), keys.ErrKeyReused},
		{"alg-changed", edit(func(_ map[string]any, ks []any) { set2(ks[0], "alg", "RS256") }), keys.ErrAlgorithm},
		{"alg-none", edit(func(_ map[string]any, ks []any) { set2(ks[0], "alg", "none") }), keys.ErrAlgorithm},
		{"unknown-state", edit(func(_ map[string]any, ks []any) { set2(ks[0], "state", "revoked") }), nil},
		{"unknown-format", edit(func(rec map[string]any, _ []any) { rec["format"] = 2 }), nil},
		{"not-json", []byte("{"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keys.Unmarshal(tc.data, sealer)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// signAndCheck signs with k's private key and verifies with its public key
// using only the standard library.
func signAndCheck(k keys.Key) error {
	msg := []byte("payload")
	digest := sha256.Sum256(msg)
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		sig, err := k.Signer().Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return err
		}
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	case *ecdsa.PublicKey:
		sig, err := k.Signer().Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return err
		}
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			return errors.New("ecdsa signature does not verify")
		}
	case ed25519.PublicKey:
		sig, err := k.Signer().Sign(rand.Reader, msg, crypto.Hash(0))
		if err != nil {
			return err
		}
		if !ed25519.Verify(pub, msg, sig) {
			return errors.New("ed25519 signature does not verify")
		}
	default:
		return fmt.Errorf("public key of type %T", pub)
	}
	return nil
}
