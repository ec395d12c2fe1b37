// Package django holds the test of the example Django REST framework API
// in this directory: it runs the snippets of docs/migrating-from-django.md
// against a real authserver and a real Django, from Debian's packages.
package django

import (
	"bufio"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/internal/testutil"
)

const (
	alicePassword = "alice: Django hashed me"
	oldSecret     = "django-insecure-the-old-secret-that-was-in-every-service"
)

// pythonWithDRF returns a python3 that imports Django, DRF, simplejwt and
// PyJWT with its crypto: $AUTHSERVER_PYTHON, Debian's /usr/bin/python3, or
// the one on PATH. Without one the test skips, or fails when
// AUTHSERVER_REQUIRE_DJANGO=1 (CI sets it).
func pythonWithDRF(t *testing.T) string {
	t.Helper()
	for _, py := range []string{os.Getenv("AUTHSERVER_PYTHON"), "/usr/bin/python3", "python3"} {
		if py != "" && exec.Command(py, "-c", "import django, rest_framework, rest_framework_simplejwt, jwt, cryptography").Run() == nil {
			return py
		}
	}
	msg := "no python3 with Django, DRF, simplejwt and PyJWT (apt-get install python3-django python3-djangorestframework python3-djangorestframework-simplejwt python3-jwt python3-cryptography)"
	if os.Getenv("AUTHSERVER_REQUIRE_DJANGO") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; AUTHSERVER_REQUIRE_DJANGO=1 fails instead")
	return ""
}

// snippets returns the code blocks of the migration guide that follow a
// "<!-- snippet: NAME -->" line, by name, without their indentation.
func snippets(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/migrating-from-django.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	lines := strings.Split(string(doc), "\n")
	for i := 0; i < len(lines); i++ {
		name, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "<!-- snippet: ")
		if !ok {
			continue
		}
		name = strings.TrimSuffix(name, " -->")
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) == ""; i++ {
		}
		indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " "))]
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		out[name] = strings.Join(body, "\n") + "\n"
	}
	for _, name := range []string{"export-import", "authserver-config", "simplejwt-settings", "login-and-call", "cut-over-settings", "new-secret-key"} {
		if out[name] == "" {
			t.Fatalf("the guide has no snippet %q", name)
		}
	}
	return out
}

// world is a temporary directory with the authserver binary and python3
// first on PATH, the example's manage.py, and the environment that the
// guide's snippets expect.
type world struct {
	t   *testing.T
	dir string
	env []string
}

func newWorld(t *testing.T, py string) *world {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	// go test puts its own GOROOT/bin first on PATH.
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "authserver"), "github.com/oauthkit/authserver/cmd/authserver")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build authserver: %v\n%s", err, out)
	}
	if err := os.Symlink(py, filepath.Join(bin, "python3")); err != nil {
		t.Fatal(err)
	}
	example, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(example, "manage.py"), filepath.Join(dir, "manage.py")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PYTHONPATH="+example,
		"PYTHONDONTWRITEBYTECODE=1",
		"DJANGO_SETTINGS_MODULE=ordersapi.settings",
		"DJANGO_DB="+filepath.Join(dir, "db.sqlite3"),
		"DJANGO_SECRET_KEY="+oldSecret,
		"AUTHSERVER_STORE_EMBEDDED_PATH="+filepath.Join(dir, "data", "authserver.db"),
	)
	return &world{t: t, dir: dir, env: env}
}

// sh runs script with bash -euo pipefail in the world and returns its
// stdout and stderr; it fails the test if the script fails.
func (w *world) sh(script string, env ...string) (string, string) {
	w.t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = w.dir
	cmd.Env = append(append([]string{}, w.env...), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		w.t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// start runs a long-lived process of the world, waits until probe answers
// want, and returns a function that ends the process (and waits for it),
// which also runs when the test ends.
func (w *world) start(name, probe string, want int, env []string, args ...string) (stop func()) {
	w.t.Helper()
	// The world's bin directory first, as for the snippets.
	cmd := exec.Command(filepath.Join(w.dir, "bin", args[0]), args[1:]...)
	cmd.Dir = w.dir
	cmd.Env = append(append([]string{}, w.env...), env...)
	logf, err := os.Create(filepath.Join(w.dir, name+".log"))
	if err != nil {
		w.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() { cmd.Process.Kill() })
		<-done
	}
	w.t.Cleanup(stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(probe)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return stop
			}
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logf.Name())
			w.t.Fatalf("%s exited:\n%s", name, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			w.t.Fatalf("%s did not answer %s with %d: %v\n%s", name, probe, want, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func login(t *testing.T, base, client, user, password string) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth2/token", url.Values{
		"grant_type": {"password"}, "client_id": {client}, "username": {user}, "password": {password},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// call asks the API's path with the Authorization header auth.
func call(t *testing.T, api, path, auth string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, api+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	json.Unmarshal(raw, &body)
	return resp.StatusCode, body
}

var b64 = base64.RawURLEncoding

// forge returns token with its claims replaced, keeping the signature, and
// a token of the same header and claims signed by a key of our own.
func forge(t *testing.T, token string) (tampered, selfSigned string) {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	json.Unmarshal(raw, &claims)
	claims["user_id"] = 2
	payload, _ := json.Marshal(claims)
	tampered = parts[0] + "." + b64.EncodeToString(payload) + "." + parts[2]
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	input := parts[0] + "." + parts[1]
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return tampered, input + "." + b64.EncodeToString(sig)
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// TestDjangoMigration is the migration guide, end to end: users created in
// Django log in at authserver with the passwords Django hashed, and a DRF
// API with simplejwt accepts authserver's tokens and nothing else, during
// the cut-over and after it.
func TestDjangoMigration(t *testing.T) {
	py := pythonWithDRF(t)
	snip := snippets(t)
	w := newWorld(t, py)

	settings, err := os.ReadFile("ordersapi/settings.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"simplejwt-settings", "cut-over-settings"} {
		if !strings.Contains(string(settings), snip[name]) {
			t.Errorf("ordersapi/settings.py lacks the guide's snippet %q:\n%s", name, snip[name])
		}
	}

	// The Django project before the migration: its users, and an old
	// djangorestframework-jwt token (HS256 with SECRET_KEY) of alice's.
	authAddr, apiAddr, shortAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	issuer, api := "http://"+authAddr, "http://"+apiAddr
	w.env = append(w.env, "AUTHSERVER_ISSUER="+issuer)
	w.sh(`python3 manage.py migrate -v0
python3 manage.py shell -c '
from django.contrib.auth.models import User
User.objects.create_user("alice", "alice@example.com", "` + alicePassword + `", first_name="Alice")
User.objects.create_user("bob", "bob@example.com", "bob password", is_active=False)
'`)
	oldToken, _ := w.sh(`python3 -c '
import os, time, jwt
print(jwt.encode({"user_id": 1, "username": "alice", "exp": int(time.time()) + 3600},
                 os.environ["DJANGO_SECRET_KEY"], algorithm="HS256"))'`)
	oldToken = strings.TrimSpace(oldToken)

	// Steps 1 and 2: import the users, configure the client.
	config := snip["authserver-config"] + `  - {id: billing-web, public: true, grants: [password], audience: [billing-api], token_profile: simplejwt}
`
	if err := os.WriteFile(filepath.Join(w.dir, "authserver.yaml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr := w.sh(snip["export-import"])
	summaries := []string{}
	for _, l := range lines(stderr) {
		if strings.HasPrefix(l, "created ") {
			summaries = append(summaries, l)
		}
	}
	want := []string{
		"created 2, updated 0, unchanged 0, skipped 0, refused 0 (dry run: nothing was changed)",
		"created 2, updated 0, unchanged 0, skipped 0, refused 0",
	}
	if strings.Join(summaries, "\n") != strings.Join(want, "\n") {
		t.Fatalf("import summaries:\n%s\nwant:\n%s\nstderr:\n%s", strings.Join(summaries, "\n"), strings.Join(want, "\n"), stderr)
	}
	if strings.Contains(stderr, "pbkdf2_sha256$") {
		t.Errorf("the import printed a password hash:\n%s", stderr)
	}

	w.start("authserver", issuer+"/readyz", 200, []string{"AUTHSERVER_HTTP_ADDR=" + authAddr},
		"authserver", "serve", "--config", "authserver.yaml")
	// A second server on the same store, whose tokens expire in a second.
	stopShort := w.start("authserver-short", "http://"+shortAddr+"/readyz", 200,
		[]string{"AUTHSERVER_HTTP_ADDR=" + shortAddr, "AUTHSERVER_TOKENS_ACCESS_TTL=1s"},
		"authserver", "serve", "--config", "authserver.yaml")
	djangoEnv := []string{"ACCEPT_LEGACY_JWT=1"}
	stopDjango := w.start("django", api+"/api/me/", 401, djangoEnv, "python3", "manage.py", "runserver", "--noreload", apiAddr)

	// Step 4, as the guide writes it.
	out, _ := w.sh(snip["login-and-call"], "AUTHSERVER="+issuer, "API="+api, "PASSWORD="+alicePassword)
	var me map[string]any
	if err := json.Unmarshal([]byte(out), &me); err != nil || me["user_id"] != float64(1) || me["username"] != "alice" {
		t.Fatalf("the guide's login and call: %q (%v), want alice's user_id 1", out, err)
	}

	code, body := login(t, issuer, "orders-web", "alice", alicePassword)
	if code != 200 {
		t.Fatalf("alice logs in with the password Django hashed: %d %v", code, body)
	}
	token := body["access_token"].(string)
	if code, body := login(t, issuer, "orders-web", "bob", "bob password"); code != 400 {
		t.Errorf("bob, inactive in Django: %d %v, want 400", code, body)
	}
	_, other := login(t, issuer, "billing-web", "alice", alicePassword)
	// The guide's client has the scope profile: alice's names, not her
	// email; billing-web has no scopes: only her user_id.
	for _, c := range []struct {
		token string
		want  map[string]any
	}{
		{token, map[string]any{"user_id": float64(1), "username": "alice", "first_name": "Alice", "email": nil}},
		{other["access_token"].(string), map[string]any{"user_id": float64(1), "username": nil, "first_name": nil, "email": nil}},
	} {
		var claims map[string]any
		raw, _ := b64.DecodeString(strings.Split(c.token, ".")[1])
		json.Unmarshal(raw, &claims)
		for k, want := range c.want {
			if claims[k] != want {
				t.Errorf("claim %s of %s's token = %#v, want %#v", k, claims["client_id"], claims[k], want)
			}
		}
	}
	_, expiring := login(t, "http://"+shortAddr, "orders-web", "alice", alicePassword)
	tampered, selfSigned := forge(t, token)

	check := func(phase string, cases []struct {
		name, path, auth string
		want             int
	}) {
		t.Helper()
		for _, c := range cases {
			code, body := call(t, api, c.path, c.auth)
			if code != c.want {
				t.Errorf("%s: %s: %d %v, want %d", phase, c.name, code, body, c.want)
				continue
			}
			if code == 200 && body["user_id"] != float64(1) {
				t.Errorf("%s: %s: %v, want alice's user_id 1", phase, c.name, body)
			}
		}
	}
	type tc = struct {
		name, path, auth string
		want             int
	}
	check("cut-over", []tc{
		{"our token, stateless", "/api/me/", "Bearer " + token, 200},
		{"our token, user from Django's database", "/api/db-me/", "Bearer " + token, 200},
		{"another audience", "/api/me/", "Bearer " + other["access_token"].(string), 401},
		{"claims changed after signing", "/api/me/", "Bearer " + tampered, 401},
		{"signed by another key", "/api/me/", "Bearer " + selfSigned, 401},
		{"HS256 with the old SECRET_KEY, as Bearer", "/api/me/", "Bearer " + oldToken, 401},
		{"HS256 with the old SECRET_KEY, as Bearer, database", "/api/db-me/", "Bearer " + oldToken, 401},
		{"old token, old prefix, during the cut-over", "/api/me/", "JWT " + oldToken, 200},
		{"no token", "/api/me/", "", 401},
	})

	// The short-lived token: valid, then expired once its exp has passed.
	expToken := expiring["access_token"].(string)
	var claims struct {
		Exp int64 `json:"exp"`
	}
	raw, _ := b64.DecodeString(strings.Split(expToken, ".")[1])
	json.Unmarshal(raw, &claims)
	stopShort()
	time.Sleep(time.Until(time.Unix(claims.Exp+1, 0)))
	check("expiry", []tc{{"expired token", "/api/me/", "Bearer " + expToken, 401}})

	// Step 6: the old class goes, SECRET_KEY is rotated.
	stopDjango()
	newSecret, _ := w.sh(snip["new-secret-key"])
	newSecret = strings.TrimSpace(newSecret)
	if len(newSecret) < 40 || newSecret == oldSecret {
		t.Fatalf("new SECRET_KEY %q", newSecret)
	}
	w.start("django-after", api+"/api/me/", 401, []string{"DJANGO_SECRET_KEY=" + newSecret}, "python3", "manage.py", "runserver", "--noreload", apiAddr)
	check("after the cut-over", []tc{
		{"our token", "/api/me/", "Bearer " + token, 200},
		{"old token, old prefix", "/api/me/", "JWT " + oldToken, 401},
		{"old token as Bearer", "/api/me/", "Bearer " + oldToken, 401},
	})

	// alice's first login re-hashed her password: a re-import changes
	// nothing, and she still logs in.
	_, stderr = w.sh("authserver --config authserver.yaml users import users.json")
	if !strings.Contains(stderr, "created 0, updated 0, unchanged 2, skipped 0, refused 0") {
		t.Errorf("re-import:\n%s", stderr)
	}
	if code, _ := login(t, issuer, "orders-web", "alice", alicePassword); code != 200 {
		t.Errorf("alice after the re-import: %d", code)
	}
}
