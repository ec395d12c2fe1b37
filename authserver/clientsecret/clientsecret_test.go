package clientsecret

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	secret, hash, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) < MinLen || !strings.HasPrefix(hash, "sha256:") {
		t.Fatalf("New = %q, %q", secret, hash)
	}
	if again, err := Hash(secret); err != nil || again != hash {
		t.Fatalf("Hash(secret) = %q, %v; want %q", again, err, hash)
	}
	sum, err := Decode(hash)
	want := sha256.Sum256([]byte(secret))
	if err != nil || !bytes.Equal(sum, want[:]) {
		t.Fatalf("Decode = %x, %v; want %x", sum, err, want)
	}
}

func TestRefusals(t *testing.T) {
	if _, err := Hash(strings.Repeat("s", MinLen-1)); err == nil {
		t.Error("Hash accepted a short secret")
	}
	for _, h := range []string{"", "sha256", "md5:AAAA", "sha256:!!!", "sha256:AAAA", "sha256:" + strings.Repeat("A", 43) + "="} {
		if _, err := Decode(h); err == nil {
			t.Errorf("Decode(%q) accepted", h)
		}
	}
}

// TestDecodeForms accepts only the exact form Hash writes.
func TestDecodeForms(t *testing.T) {
	secret := "correct-horse-battery-staple-0123456789"
	want := sha256.Sum256([]byte(secret))
	h, err := Hash(secret)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"hash-secret", h, false},
		{"no-prefix", base64.RawURLEncoding.EncodeToString(want[:]), true},
		{"uppercase-prefix", "SHA256:" + base64.RawURLEncoding.EncodeToString(want[:]), true},
		{"std-alphabet", "sha256:" + base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)), true},
		{"padded", "sha256:" + base64.URLEncoding.EncodeToString(want[:]), true},
		{"short", "sha256:" + base64.RawURLEncoding.EncodeToString(want[:16]), true},
		{"empty", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Decode(%q) = %x, want an error", tt.in, got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, want[:]) {
				t.Fatalf("Decode = %x, %v, want %x", got, err, want)
			}
		})
	}
}
