package password

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

var fast = Params{Memory: 64, Iterations: 1, Parallelism: 1}

func TestHashVerify(t *testing.T) {
	h, err := NewHasher(fast, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", enc)
	}
	tests := []struct {
		name     string
		encoded  string
		password string
		want     bool
	}{
		{"right-password", enc, "correct horse", true},
		{"wrong-password", enc, "correct horsf", false},
		{"empty-password", enc, "", false},
		{"unknown-user", "", "correct horse", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := h.Verify(ctx, tc.encoded, tc.password)
			if err != nil || got != tc.want {
				t.Fatalf("Verify = %v, %v; want %v, nil", got, err, tc.want)
			}
		})
	}
}

func TestMalformedHash(t *testing.T) {
	h, err := NewHasher(fast, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []string{"x", "$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAAAAAAAAAAAAAAAAAAAA", "$argon2id$v=19$m=64,t=1,p=1$!!$AAAA"} {
		if _, err := h.Verify(context.Background(), enc, "pw"); !errors.Is(err, ErrMalformedHash) && !errors.Is(err, ErrUnsupportedFormat) {
			t.Errorf("Verify(%q) error = %v, want ErrMalformedHash or ErrUnsupportedFormat", enc, err)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	a, _ := NewHasher(fast, 1)
	b, _ := NewHasher(Params{Memory: 128, Iterations: 1, Parallelism: 1}, 1)
	enc, err := a.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if a.NeedsRehash(enc) || !b.NeedsRehash(enc) {
		t.Fatal("NeedsRehash does not compare parameters")
	}
}

// TestBoundedConcurrency shows that a caller waits for a slot and gives up
// when its context ends, instead of piling more hashes onto the CPU.
func TestBoundedConcurrency(t *testing.T) {
	h, _ := NewHasher(fast, 1)
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Verify(ctx, "", "pw"); err == nil {
		t.Fatal("Verify ran although the only slot was taken")
	}
	h.release()
	if _, err := h.Verify(context.Background(), "", "pw"); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkVerifyOWASP measures the login cost with the default parameters.
func BenchmarkVerifyOWASP(b *testing.B) {
	h, _ := NewHasher(OWASP, 1)
	enc, _ := h.Hash(context.Background(), "pw")
	for b.Loop() {
		h.Verify(context.Background(), enc, "pw")
	}
}
