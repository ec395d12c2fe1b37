package keys_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/oauthkit/authserver/keys/keystest"

	"github.com/oauthkit/authserver/keys"
)

// fixtureKEK is the key-encryption key of testdata/keyset-seal-v1.json:
// the bytes 0, 1, …, 31.
func fixtureKEK() []byte {
	kek := make([]byte, keys.KEKSize)
	for i := range kek {
		kek[i] = byte(i)
	}
	return kek
}

// sealVersions returns the version byte of every sealed key of a stored
// key set.
func sealVersions(t *testing.T, data []byte) []byte {
	t.Helper()
	var rec struct {
		Keys []struct {
			SealedKey []byte `json:"sealed_key"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, k := range rec.Keys {
		out = append(out, k.SealedKey[0])
	}
	return out
}

func gcm(t *testing.T, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return aead
}

// TestSealUpgrade loads a key set sealed the old way, with
// keys.encryption_key itself (testdata/keyset-seal-v1.json, written by
// the code before the HKDF derivation): it loads, signs and verifies; the
// next save writes every key sealed with the derived key, and that set
// loads again.
func TestSealUpgrade(t *testing.T) {
	old, err := os.ReadFile("testdata/keyset-seal-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	if v := sealVersions(t, old); !bytes.Equal(v, []byte{1, 1}) {
		t.Fatalf("fixture seal versions %v, want [1 1]: the test would test nothing", v)
	}
	sealer, err := keys.NewSealer(fixtureKEK())
	if err != nil {
		t.Fatal(err)
	}
	st := &keystest.Store{}
	if _, ok, err := st.SwapKeySet(context.Background(), 0, old); !ok || err != nil {
		t.Fatalf("store the fixture: %v %v", ok, err)
	}
	clk := newClock()
	m := newManager(t, st, sealer, keys.Options{Now: clk.Now})
	tok, err := m.Sign([]byte(`{"sub":"upgrade"}`))
	if err != nil {
		t.Fatalf("sign with a key sealed the old way: %v", err)
	}
	if _, kid, err := m.Verify([]byte(tok)); err != nil || kid != "wtNBHY5NWV4SfgPLYX7KhqY8PrNCMrz6gngOUr4mS0A" {
		t.Fatalf("verify: kid %s, %v; want the fixture's active key", kid, err)
	}

	if _, err := m.Rotate(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	saved, _, err := st.LoadKeySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v := sealVersions(t, saved); !bytes.Equal(v, []byte{2, 2, 2}) {
		t.Errorf("re-saved seal versions %v, want every key sealed with the derived key [2 2 2]", v)
	}
	set, err := keys.Unmarshal(saved, sealer)
	if err != nil || set.Len() != 3 {
		t.Fatalf("reload the re-saved set: %d keys, %v", set.Len(), err)
	}
	other, _ := keys.NewSealer(newKEK(t))
	if _, err := keys.Unmarshal(saved, other); !errors.Is(err, keys.ErrSealed) {
		t.Errorf("the re-saved set opens with another KEK: %v", err)
	}
}

// TestSealDerivesKey: Seal never uses keys.encryption_key itself (which
// the refresh-token MAC key is also derived from) but the HKDF-SHA256 key
// labelled "authserver key sealing v1"; a record made with the raw key
// and version 1, as before, still opens, and a record's version byte
// cannot be switched to the other key.
func TestSealDerivesKey(t *testing.T) {
	kek := newKEK(t)
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := sealer.Seal([]byte("private key bytes"), []byte("kid-1"))
	if err != nil {
		t.Fatal(err)
	}
	if sealed[0] != 2 {
		t.Errorf("version byte %d, want 2", sealed[0])
	}
	raw := gcm(t, kek)
	if _, err := raw.Open(nil, sealed[1:13], sealed[13:], []byte("kid-1")); err == nil {
		t.Error("a new record opens with keys.encryption_key itself")
	}
	derived, err := hkdf.Key(sha256.New, kek, nil, "authserver key sealing v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := gcm(t, derived).Open(nil, sealed[1:13], sealed[13:], []byte("kid-1")); err != nil || string(got) != "private key bytes" {
		t.Errorf("open with the derived key: %q, %v", got, err)
	}

	// The old format: version 1, nonce, AES-256-GCM under kek itself.
	legacy := make([]byte, 13, 13+64)
	legacy[0] = 1
	rand.Read(legacy[1:])
	legacy = raw.Seal(legacy, legacy[1:13], []byte("old private key"), []byte("kid-0"))
	if got, err := sealer.Open(legacy, []byte("kid-0")); err != nil || string(got) != "old private key" {
		t.Errorf("open an old record: %q, %v", got, err)
	}

	for name, rec := range map[string][]byte{
		"new-marked-old": append([]byte{1}, sealed[1:]...),
		"old-marked-new": append([]byte{2}, legacy[1:]...),
		"unknown":        append([]byte{3}, sealed[1:]...),
	} {
		if _, err := sealer.Open(rec, []byte("kid-1")); !errors.Is(err, keys.ErrSealed) {
			t.Errorf("%s: Open error = %v, want ErrSealed", name, err)
		}
	}
}
