package password

import (
	"context"
	"testing"
)

func TestAcceptable(t *testing.T) {
	h, err := NewHasher(fast, 1)
	if err != nil {
		t.Fatal(err)
	}
	good, err := h.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hash string
		want bool
	}{
		{good, true},
		{"", false},
		{"correct horse", false},
		{"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", false},
		{good + "$", false},
		{"pbkdf2_sha256$600000$c2FsdA$" + "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=", true},
		{"md5$salt$0123456789abcdef0123456789abcdef", false},
	} {
		if got := Acceptable(tc.hash); got != tc.want {
			t.Errorf("Acceptable(%q) = %v, want %v", tc.hash, got, tc.want)
		}
	}
}
