package keys

import (
	"crypto"
	"crypto/ed25519"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// edSeed returns the Ed25519 key of seed n (n in the first 8 bytes), for
// keys with a known kid: seed 19 has kid -xrdk…, seed 1999 --YUE….
func edSeed(n uint64) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	binary.LittleEndian.PutUint64(seed, n)
	return ed25519.NewKeyFromSeed(seed)
}

// TestGenerateKeyAvoidsDashKid: a kid that starts with '-' reads as a
// flag when pasted into `keys revoke KID`, so such a key is drawn again;
// the kid stays the key's thumbprint.
func TestGenerateKeyAvoidsDashKid(t *testing.T) {
	draws := []ed25519.PrivateKey{edSeed(19), edSeed(1999), edSeed(0)}
	n := 0
	k, err := generateKey(EdDSA, time.Unix(0, 0), func() (crypto.Signer, error) {
		n++
		return draws[n-1], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := thumbprint(edSeed(0).Public())
	if n != 3 || k.KID() != want || strings.HasPrefix(k.KID(), "-") {
		t.Errorf("after %d draws kid = %s, want the third key's %s", n, k.KID(), want)
	}
	for _, s := range []uint64{19, 1999} {
		if kid, _ := thumbprint(edSeed(s).Public()); !strings.HasPrefix(kid, "-") {
			t.Fatalf("seed %d: kid %s does not start with '-': the draws above test nothing", s, kid)
		}
	}

	// A generator that only yields such keys ends in an error, not a loop.
	n = 0
	if _, err := generateKey(EdDSA, time.Unix(0, 0), func() (crypto.Signer, error) {
		n++
		return edSeed(19), nil
	}); err == nil || n != maxKeyDraws {
		t.Errorf("always a dash kid: err %v after %d draws; want an error after %d", err, n, maxKeyDraws)
	}
}

// TestGenerateKeyNoDashKid draws many keys through the public function:
// with one kid in 64 starting with '-', 640 draws without the redraw
// would see one with probability 1-(63/64)^640 > 0.9999.
func TestGenerateKeyNoDashKid(t *testing.T) {
	for range 640 {
		k, err := GenerateKey(EdDSA, 0, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(k.KID(), "-") {
			t.Fatalf("GenerateKey made kid %s", k.KID())
		}
	}
}
