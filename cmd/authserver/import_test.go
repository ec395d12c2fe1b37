package main

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauthkit/authserver/internal/testutil"
)

// djangoPBKDF2 is a hash in Django's pbkdf2_sha256 format. The password
// package tests each format against hashes that Django itself makes; here
// the point is the command and the server around them.
func djangoPBKDF2(password, salt string) string {
	key, err := pbkdf2.Key(sha256.New, password, []byte(salt), 1000, 32)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("pbkdf2_sha256$1000$%s$%s", salt, base64.StdEncoding.EncodeToString(key))
}

type dumpUser struct {
	pk       int
	username string
	hash     string
	active   bool
}

// djangoDump writes what `manage.py dumpdata auth.user auth.group` would.
func djangoDump(t *testing.T, path string, users ...dumpUser) string {
	t.Helper()
	var objs []any
	for _, u := range users {
		objs = append(objs, map[string]any{"model": "auth.user", "pk": u.pk, "fields": map[string]any{
			"password": u.hash, "last_login": nil, "is_superuser": false, "username": u.username,
			"first_name": "First " + u.username, "last_name": "", "email": u.username + "@example.com",
			"is_staff": u.pk == 1, "is_active": u.active, "date_joined": "2023-05-06T07:08:09.123Z",
			"groups": []int{}, "user_permissions": []int{},
		}})
	}
	objs = append(objs, map[string]any{"model": "auth.group", "pk": 1, "fields": map[string]any{"name": "editors", "permissions": []int{}}})
	b, err := json.MarshalIndent(objs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func passwordLogin(t *testing.T, base, user, password string) (int, map[string]any) {
	t.Helper()
	code, _, body := testutil.PostToken(t, base, url.Values{
		"grant_type": {"password"}, "client_id": {"app"}, "username": {user}, "password": {password},
	})
	return code, body
}

// TestUsersImport imports a Django dump through the real binary into each
// store: a dry run changes nothing; refused rows say why without a hash;
// re-runs update and never duplicate; a user created here is skipped
// unless --overwrite; imported users log in with their Django passwords,
// which the first login re-hashes; a disabling re-import ends sessions.
func TestUsersImport(t *testing.T) {
	for _, driver := range []string{"embedded", "redis"} {
		t.Run(driver, func(t *testing.T) { testUsersImport(t, driver) })
	}
}

func testUsersImport(t *testing.T, driver string) {
	dir := t.TempDir()
	var env []string
	cfg := filepath.Join(dir, "authserver.yaml")
	if driver == "redis" {
		env, cfg = redisEnv(t, dir)
	} else {
		env = []string{"AUTHSERVER_STORE_EMBEDDED_PATH=" + filepath.Join(dir, "data", "a.db")}
		os.WriteFile(cfg, []byte("clients:\n  - {id: app, public: true, grants: [password, refresh_token], scopes: [profile]}\n"), 0o600)
	}
	run := func(stdin string, args ...string) (string, string) {
		t.Helper()
		out, errOut, code := cli(t, dir, stdin, env, append([]string{"--config", cfg}, args...)...)
		if code != 0 {
			t.Fatalf("authserver %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
		}
		return out, errOut
	}
	run("password-of-dave\n", "users", "add", "dave", "--password-stdin")

	aliceHash, erinHash := djangoPBKDF2("alice's password", "saltA"), djangoPBKDF2("erin's password", "saltE")
	users := []dumpUser{
		{1, "alice", aliceHash, true},
		{2, "bob", "sha1$salt$0123456789abcdef0123456789abcdef01234567", true},
		{3, "carol", "!unusable-by-django", false},
		{4, "dave", djangoPBKDF2("dave in django", "saltD"), true},
		{5, "erin", erinHash, true},
	}
	dump := djangoDump(t, filepath.Join(dir, "dump.json"), users...)

	wantSummary := func(stderr, summary string) {
		t.Helper()
		if !strings.Contains(stderr, summary) {
			t.Errorf("stderr lacks %q:\n%s", summary, stderr)
		}
		for _, secret := range []string{aliceHash, erinHash, "0123456789abcdef", "unusable-by-django"} {
			if strings.Contains(stderr, secret) {
				t.Errorf("stderr prints a password hash:\n%s", stderr)
			}
		}
	}
	_, stderr := run("", "users", "import", "--dry-run", dump)
	wantSummary(stderr, "created 3, updated 0, unchanged 0, skipped 1, refused 2 (dry run")
	for _, why := range []string{`refused object 1 (pk 2): password: unsupported password hash format "sha1"`,
		"refused object 5 (pk 1): model auth.group is not a user model", "skipped object 3 (pk 4, dave)"} {
		if !strings.Contains(stderr, why) {
			t.Errorf("stderr lacks %q:\n%s", why, stderr)
		}
	}
	if out, _ := run("", "users", "list"); strings.Contains(out, "alice") {
		t.Fatalf("the dry run imported users:\n%s", out)
	}

	_, stderr = run("", "users", "import", dump)
	wantSummary(stderr, "created 3, updated 0, unchanged 0, skipped 1, refused 2\n")
	data, _ := os.ReadFile(dump)
	_, stderr = run(string(data), "users", "import", "-")
	wantSummary(stderr, "created 0, updated 0, unchanged 3, skipped 1, refused 2\n")
	out, _ := run("", "users", "list")
	if strings.Count(out, "\n") != 5 || !strings.Contains(out, "disabled") {
		t.Fatalf("users list after two imports (want 4 users, carol disabled):\n%s", out)
	}

	s := startServer(t, dir, env, "--config", cfg)
	code, body := passwordLogin(t, s.base, "alice", "alice's password")
	if code != 200 {
		t.Fatalf("alice logs in with her Django password: %d %v", code, body)
	}
	_, claims := verifyWithJOSE(t, s.base, body["access_token"].(string))
	// The client has the scope profile only: no email, no is_staff.
	for k, want := range map[string]any{"user_id": "1", "username": "alice", "first_name": "First alice", "email": nil, "is_staff": nil} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if code, _ := passwordLogin(t, s.base, "alice", "wrong password"); code != 400 {
		t.Errorf("wrong password: %d, want 400", code)
	}
	if code, _ := passwordLogin(t, s.base, "carol", "anything at all"); code != 400 {
		t.Errorf("carol (inactive, unusable password): %d, want 400", code)
	}
	if code, _ := passwordLogin(t, s.base, "dave", "dave in django"); code != 400 {
		t.Errorf("dave's Django password replaced the one set here: %d", code)
	}
	code, erin := passwordLogin(t, s.base, "erin", "erin's password")
	if code != 200 {
		t.Fatalf("erin logs in: %d %v", code, erin)
	}

	// alice's first login re-hashed her password: a dump with another
	// Django hash no longer replaces it, and her password still works.
	// erin, now inactive in Django, is disabled and her session ends.
	users[0].hash = djangoPBKDF2("changed in django", "saltA2")
	users[4].active = false
	_, stderr = run("", "users", "import", djangoDump(t, dump, users...))
	wantSummary(stderr, "created 0, updated 1, unchanged 2, skipped 1, refused 2\n")
	if code, body := passwordLogin(t, s.base, "alice", "alice's password"); code != 200 {
		t.Errorf("alice after the re-import: %d %v", code, body)
	}
	if code, body := refresh(t, s.base, "app", erin["refresh_token"].(string)); code != 400 {
		t.Errorf("erin's session after she was disabled by the import: %d %v", code, body)
	}

	_, stderr = run("", "users", "import", "--overwrite", dump)
	wantSummary(stderr, "created 0, updated 3, unchanged 1, skipped 0, refused 2\n") // alice, dave, erin: hashes set here
	if code, _ := passwordLogin(t, s.base, "dave", "dave in django"); code != 200 {
		t.Errorf("dave after --overwrite: %d, want his Django password", code)
	}
	if code, _ := passwordLogin(t, s.base, "alice", "changed in django"); code != 200 {
		t.Errorf("alice after --overwrite: %d, want her new Django password", code)
	}

	// erin, active again in Django, logs in again: the import enables her
	// everywhere the store keeps the disabled state (Redis also marks it
	// beside the credential version, where a new session is checked).
	users[4].active = true
	_, stderr = run("", "users", "import", djangoDump(t, dump, users...))
	wantSummary(stderr, "updated 1,")
	if code, body := passwordLogin(t, s.base, "erin", "erin's password"); code != 200 {
		t.Errorf("erin after the import enabled her again: %d %v", code, body)
	}
}
