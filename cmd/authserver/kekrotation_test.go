package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/keys"
)

// newKEK returns a fresh keys.encryption_key (base64) and its id.
func newKEK(t *testing.T) (key, id string) {
	t.Helper()
	raw := make([]byte, keys.KEKSize)
	rand.Read(raw)
	return base64.StdEncoding.EncodeToString(raw), keys.KEKID(raw)
}

// keyring is the environment of a replica or a command whose keyring is
// current plus previous.
func keyring(current string, previous ...string) []string {
	env := []string{"AUTHSERVER_KEYS_ENCRYPTION_KEY=" + current}
	if len(previous) > 0 {
		env = append(env, "AUTHSERVER_KEYS_PREVIOUS_ENCRYPTION_KEYS="+strings.Join(previous, ","))
	}
	return env
}

// loginVia logs alice in through base and returns the refresh token.
func loginVia(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"alice"}, "password": {alicePassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	return decodeField(t, resp, "refresh_token")
}

// mustRefresh refreshes token through base and returns its successor.
func mustRefresh(t *testing.T, base, token, what string) string {
	t.Helper()
	status, body := refresh(t, base, "app", token)
	if status != http.StatusOK {
		t.Fatalf("%s: refresh %d %v", what, status, body)
	}
	return body["refresh_token"].(string)
}

// TestKEKRotationUnderLoad follows the runbook "Rotate the key-encryption
// key" of docs/operations.md on two replicas of each store under
// continuous load, one rolling restart per step: K2 is added as a
// previous key everywhere, then made current (the first replica with it
// reseals the key set), `keys reseal` reports that nothing stored needs
// K1, and K1 is removed. At every moment the two replicas run different
// rings, and not one request fails, no session is logged out, and a
// session idle through the whole rotation still refreshes.
func TestKEKRotationUnderLoad(t *testing.T) {
	for _, driver := range []string{"embedded", "redis"} {
		t.Run(driver, func(t *testing.T) {
			k1, id1 := newKEK(t)
			k2, id2 := newKEK(t)
			secret, hash := newSecret(t)
			d := newDeployment(t, driver, clientsConfig(hash))
			d.addUser(keyring(k1))
			d.start(keyring(k1))
			d.start(keyring(k1))
			l := startLoad(t, d, secret)
			idle := loginVia(t, d.lb.srv.URL) // under K1, unused until K1 is gone

			// 1. K2 known to every replica; K1 still seals and issues.
			for i := range d.replicas {
				d.roll(i, keyring(k1, k2))
				l.progress(5)
			}
			if logHas(d.replicas[0], "key_set_resealed") {
				t.Error("a replica resealed while K1 was still current")
			}

			// 2. K2 current. The first replica to start with it reseals.
			d.roll(0, keyring(k2, k1))
			if !logHas(d.replicas[0], `"event":"key_set_resealed"`) {
				t.Error("the first replica with K2 current did not reseal the key set")
			}
			l.progress(5)
			d.roll(1, keyring(k2, k1))
			l.progress(10) // every live session has refreshed under K2
			out := d.mustCLI("", keyring(k2, k1), "keys", "reseal")
			if !strings.Contains(out, "current encryption key "+id2+": resealed 0, 1 of 1") ||
				!strings.Contains(out, "previous encryption key "+id1+": no sealed record needs it") {
				t.Errorf("keys reseal report:\n%s", out)
			}
			// Every active session has moved to K2: no token under K1 is
			// presented any more, until the idle session comes back.
			k1Tokens := `authserver_refresh_tokens_presented_total{encryption_key="` + id1 + `"}`
			before := d.metric(k1Tokens)
			l.progress(5)
			if after := d.metric(k1Tokens); after != before {
				t.Errorf("tokens under K1 still presented after every session refreshed: %d then %d", before, after)
			}
			idle = mustRefresh(t, d.lb.srv.URL, idle, "a session idle since before the rotation")
			if after := d.metric(k1Tokens); after != before+1 {
				t.Errorf("the idle session's token under K1: counted %d then %d, want one more", before, after)
			}

			// 3. K1 removed.
			for i := range d.replicas {
				d.roll(i, keyring(k2))
				l.progress(5)
			}
			mustRefresh(t, d.lb.srv.URL, idle, "that session after K1 was removed")
			l.stop()

			// K1 alone opens nothing any more, and says which key it lacks.
			if _, stderr, code := d.cli("", keyring(k1), "keys", "list"); code == 0 || !strings.Contains(stderr, id2) {
				t.Errorf("keys list with K1 only: exit %d, %s", code, stderr)
			}
		})
	}
}

// TestLeakedKEKWithBackup follows the runbook for a key-encryption key
// that leaked together with a copy of the store: after the rotation K1
// is removed at once, and every signing key that the copy held is
// revoked. The copy then opens with nothing, a refresh token under K1 is
// refused (it might be forged), and logins, refreshes and verification go
// on with the new key.
func TestLeakedKEKWithBackup(t *testing.T) {
	k1, _ := newKEK(t)
	k2, _ := newKEK(t)
	secret, hash := newSecret(t)
	d := newDeployment(t, "embedded", clientsConfig(hash))
	d.addUser(keyring(k1))
	d.start(keyring(k1))
	d.start(keyring(k1))
	base := d.lb.srv.URL
	stale := loginVia(t, base)
	leakedKids := strings.Fields(d.mustCLI("", keyring(k1), "keys", "list"))

	l := startLoad(t, d, secret)
	for i := range d.replicas {
		d.roll(i, keyring(k1, k2))
	}
	for i := range d.replicas {
		d.roll(i, keyring(k2, k1))
	}
	l.progress(5)
	for i := range d.replicas {
		d.roll(i, keyring(k2))
	}
	l.progress(5)
	l.stop()

	// Every signing key of the copy is compromised: revoke them.
	var revoked []string
	for _, s := range leakedKids {
		if len(s) == 43 { // a kid: the base64url of a SHA-256 thumbprint
			revoked = append(revoked, s)
			d.mustCLI("", keyring(k2), "keys", "revoke", s)
		}
	}
	if len(revoked) == 0 {
		t.Fatalf("no kid in keys list output: %v", leakedKids)
	}
	for _, s := range d.replicas {
		gone := testutil.WaitFor(5*time.Second, func() bool {
			jwks := jwksDoc(t, s.base)
			return !slices.ContainsFunc(revoked, func(kid string) bool { return strings.Contains(jwks, kid) })
		})
		if !gone {
			t.Errorf("replica %s still publishes a revoked kid of %v", s.base, revoked)
		}
	}
	if status, _ := refresh(t, base, "app", stale); status != http.StatusBadRequest {
		t.Errorf("a refresh token under the leaked K1: %d, want 400", status)
	}
	if _, stderr, code := d.cli(stale+"\n", keyring(k2), "sessions", "find", "--token", "-"); code == 0 || !strings.Contains(stderr, "not a refresh token issued under") {
		t.Errorf("sessions find with a K1 token: exit %d %s", code, stderr)
	}
	rt := loginVia(t, base)
	mustRefresh(t, base, rt, "a new session")
	_, claims := verifyWithJOSE(t, d.replicas[1].base, accessToken(t, base))
	if claims["iss"] != base {
		t.Errorf("iss %v", claims["iss"])
	}
}

// accessToken logs alice in through base and returns the access token.
func accessToken(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"app"}, "username": {"alice"}, "password": {alicePassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return decodeField(t, resp, "access_token")
}

func decodeField(t *testing.T, resp *http.Response, name string) string {
	t.Helper()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	v, _ := body[name].(string)
	if v == "" {
		t.Fatalf("no %s in %v", name, body)
	}
	return v
}
