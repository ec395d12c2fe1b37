package password

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const djangoPassword = "pässword 1 ünicode"

var djangoFormats = []string{"pbkdf2_sha256", "pbkdf2_sha1", "argon2", "argon2i", "bcrypt_sha256", "bcrypt", "unusable"}

var (
	djangoOnce   sync.Once
	djangoHashes map[string]string
	djangoErr    error
)

// djangoPython returns a python3 that imports Django: $AUTHSERVER_PYTHON,
// Debian's /usr/bin/python3 (where apt installs python3-django), or the
// one on PATH. Without one the test skips, or fails when
// AUTHSERVER_REQUIRE_DJANGO=1 (CI sets it).
func djangoPython(t testing.TB) string {
	t.Helper()
	for _, py := range []string{os.Getenv("AUTHSERVER_PYTHON"), "/usr/bin/python3", "python3"} {
		if py != "" && exec.Command(py, "-c", "import django, argon2, bcrypt").Run() == nil {
			return py
		}
	}
	if os.Getenv("AUTHSERVER_REQUIRE_DJANGO") == "1" {
		t.Fatal("no python3 with Django, argon2-cffi and bcrypt (apt-get install python3-django python3-argon2 python3-bcrypt)")
	}
	t.Skip("no python3 with Django; set AUTHSERVER_REQUIRE_DJANGO=1 to fail instead")
	return ""
}

// madeByDjango returns the hashes of djangoPassword that Django's own
// hashers make, one per format, generated once per test binary.
func madeByDjango(t testing.TB) map[string]string {
	t.Helper()
	py := djangoPython(t)
	djangoOnce.Do(func() {
		names, _ := json.Marshal(djangoFormats)
		cmd := exec.Command(py, "testdata/django_hashes.py", djangoPassword)
		cmd.Stdin = strings.NewReader(string(names))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			djangoErr = errors.New(err.Error() + ": " + stderr.String())
			return
		}
		djangoErr = json.Unmarshal(out, &djangoHashes)
	})
	if djangoErr != nil {
		t.Fatalf("django hashes: %v", djangoErr)
	}
	return djangoHashes
}

func TestDjangoHashesVerify(t *testing.T) {
	hashes := madeByDjango(t)
	h, err := NewHasher(fast, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, format := range djangoFormats {
		t.Run(format, func(t *testing.T) {
			enc := hashes[format]
			wantFormat := format
			if format == "argon2i" {
				wantFormat = FormatDjangoArgon2
			}
			if got, err := Identify(enc); err != nil || got != wantFormat {
				t.Fatalf("Identify = %q, %v; want %q", got, err, wantFormat)
			}
			if !h.NeedsRehash(enc) {
				t.Error("NeedsRehash = false, want true for every Django format")
			}
			right, err := h.Verify(ctx, enc, djangoPassword)
			if err != nil {
				t.Fatal(err)
			}
			if want := format != "unusable"; right != want {
				t.Errorf("Verify(right password) = %v, want %v", right, want)
			}
			for _, wrong := range []string{"", "pässword 1 ünicodf", enc} {
				if ok, err := h.Verify(ctx, enc, wrong); ok || err != nil {
					t.Errorf("Verify(wrong password %q) = %v, %v; want false, nil", wrong, ok, err)
				}
			}
		})
	}
}

func TestDjangoUnsupportedFormats(t *testing.T) {
	h, err := NewHasher(fast, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []string{
		"sha1$salt$0123456789abcdef0123456789abcdef01234567",
		"md5$salt$0123456789abcdef0123456789abcdef",
		"unsalted_md5$$0123456789abcdef0123456789abcdef",
		"crypt$$abN0vOXtGZ1Nk",
		"scrypt$16384$salt$8$1$AAAAAAAAAAAAAAAAAAAAAA==",
		"0123456789abcdef0123456789abcdef",
	} {
		name, _, ok := strings.Cut(enc, "$")
		want := `"` + name + `"`
		if !ok {
			want, name = "(no algorithm name)", "bare"
		}
		_, err := Identify(enc)
		if !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), want) {
			t.Errorf("Identify(%s…) error = %v, want ErrUnsupportedFormat naming %s", name, err, want)
		}
		if _, hash, ok := strings.Cut(enc, "$"); strings.Contains(err.Error(), hash) && ok || strings.Contains(err.Error(), enc) {
			t.Errorf("Identify error %q repeats the hash", err)
		}
		if ok, err := h.Verify(context.Background(), enc, "salt"); ok || err == nil {
			t.Errorf("Verify(%s…) = %v, %v; want false and an error", name, ok, err)
		}
	}
	for _, enc := range []string{
		"pbkdf2_sha256$0$salt$AAAAAAAAAAAAAAAAAAAAAA==",
		"pbkdf2_sha256$99999999999$salt$AAAAAAAAAAAAAAAAAAAAAA==",
		"pbkdf2_sha256$1000$salt$!!",
		"argon2$argon2d$v=19$m=512,t=2,p=2$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"argon2$argon2i$m=512,t=2,p=2$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"argon2$argon2id$v=19$m=99999999,t=2,p=2$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"bcrypt$$2b$12$short",
	} {
		if _, err := Identify(enc); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Identify(%s) error = %v, want ErrMalformedHash", enc, err)
		}
	}
}

// TestDjangoWeakHashCostsArgon2id: a wrong password against an imported
// hash far cheaper than ours (PBKDF2 with one iteration, an unusable
// password, a format no login reads) takes at least our argon2id's time,
// like an unknown user.
func TestDjangoWeakHashCostsArgon2id(t *testing.T) {
	h, err := NewHasher(OWASP, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cheapest := func(enc string) time.Duration {
		best := time.Duration(1 << 62)
		for range 3 {
			start := time.Now()
			if ok, err := h.Verify(ctx, enc, "wrong password"); ok || err != nil && !errors.Is(err, ErrUnsupportedFormat) {
				t.Fatalf("Verify = %v, %v", ok, err)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	unknown := cheapest("")
	for _, enc := range []string{
		"pbkdf2_sha1$1$salt$AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"!unusable",
		"md5$salt$0123456789abcdef0123456789abcdef",
	} {
		if got := cheapest(enc); got < unknown/2 {
			t.Errorf("wrong password against %.12s… took %v, an unknown user %v: the cheap check is not padded", enc, got, unknown)
		}
	}
}

// BenchmarkVerifyWrongPassword measures a failed login's hashing cost per
// stored format, with our default (OWASP) argon2id parameters and the
// hashes Django makes with its default costs.
func BenchmarkVerifyWrongPassword(b *testing.B) {
	hashes := madeByDjango(b)
	h, err := NewHasher(OWASP, 1)
	if err != nil {
		b.Fatal(err)
	}
	ours, err := h.Hash(context.Background(), djangoPassword)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct{ name, enc string }{{"argon2id-ours", ours}, {"unknown-user", ""}}
	for _, f := range djangoFormats {
		cases = append(cases, struct{ name, enc string }{"django-" + f, hashes[f]})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				h.Verify(context.Background(), c.enc, "wrong password")
			}
		})
	}
}
