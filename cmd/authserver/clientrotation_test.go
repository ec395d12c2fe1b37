package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/clientsecret"
	"github.com/oauthkit/authserver/internal/testutil"
)

// testKEK is keys.encryption_key of the deployments of these tests.
const testKEK = "QUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUJDQUI="

// clientsConfig is a configuration with the public app and the
// confidential svc whose live secrets are hashes.
func clientsConfig(hashes ...string) string {
	var b strings.Builder
	b.WriteString(`tokens: {refresh_reuse_grace: 2s}
clients:
  - id: app
    public: true
    grants: [password, refresh_token]
    scopes: [profile]
  - id: svc
    grants: [client_credentials]
    scopes: [billing]
`)
	if len(hashes) > 0 {
		fmt.Fprintf(&b, "    secret_hash: %q\n", hashes[0])
	}
	if len(hashes) > 1 {
		fmt.Fprintf(&b, "    secret_hashes: [%q]\n", strings.Join(hashes[1:], `", "`))
	}
	return b.String()
}

// newSecret runs `authserver clients new-secret`.
func newSecret(t *testing.T) (secret, hash string) {
	t.Helper()
	out, stderr, code := cli(t, t.TempDir(), "", nil, "clients", "new-secret")
	lines := strings.Fields(out)
	if code != 0 || len(lines) != 2 {
		t.Fatalf("clients new-secret: %d %q %s", code, out, stderr)
	}
	return lines[0], lines[1]
}

// clientCredentials reports the status of a client_credentials request
// for svc with secret, sent to base directly.
func clientCredentials(base, secret string) int {
	resp, err := http.PostForm(base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {secret}})
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// secretUses sums authserver_client_secret_used_total of svc's secret id
// over the replicas.
func (d *deployment) secretUses(id string) int {
	d.t.Helper()
	return d.metric(`authserver_client_secret_used_total{client_id="svc",secret="` + id + `"}`)
}

// metric sums the value of one series over the replicas' admin listeners.
func (d *deployment) metric(series string) int {
	d.t.Helper()
	total := 0
	for _, s := range d.replicas {
		resp, err := http.Get(s.admin + "/metrics")
		if err != nil {
			d.t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
				n, _ := strconv.ParseFloat(v, 64)
				total += int(n)
			}
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return total
}

// logHas reports whether the replica's log holds s.
func logHas(s *server, text string) bool {
	data, _ := os.ReadFile(s.log)
	return strings.Contains(string(data), text)
}

// TestClientSecretRotationUnderLoad follows the runbook "A client secret
// leaked" of docs/operations.md, step by step, on two replicas of each
// store under continuous load: a new secret is added beside the old and
// the replicas reload on SIGHUP, the client switches, the metric shows
// the old secret unused, the old secret is removed. Not one request
// fails and no session is logged out; a broken configuration sent with
// SIGHUP is refused and changes nothing.
func TestClientSecretRotationUnderLoad(t *testing.T) {
	for _, driver := range []string{"embedded", "redis"} {
		t.Run(driver, func(t *testing.T) {
			oldSecret, oldHash := newSecret(t)
			d := newDeployment(t, driver, clientsConfig(oldHash))
			d.env = append(d.env, "AUTHSERVER_KEYS_ENCRYPTION_KEY="+testKEK)
			d.addUser(nil)
			d.start(nil)
			d.start(nil)
			l := startLoad(t, d, oldSecret)

			// 1. A new secret, beside the old one; check, then reload.
			newSec, newHash := newSecret(t)
			d.writeConfig(clientsConfig(oldHash, newHash))
			out := d.mustCLI("", nil, "config", "check")
			oldID, newID := clientsecret.ID(oldHash), clientsecret.ID(newHash)
			if !strings.Contains(out, "#   svc: "+oldID+", "+newID) || strings.Contains(out, newHash) {
				t.Fatalf("config check does not list both secret ids (or shows a hash):\n%s", out)
			}
			d.hangup()
			d.eachReplica("the new secret authenticates", func(base string) bool { return clientCredentials(base, newSec) == http.StatusOK })
			l.progress(10)

			// 2. The client gets the new secret; the old one falls idle.
			l.secret.Store(&newSec)
			l.progress(10)
			before := d.secretUses(oldID)
			l.progress(20)
			if after := d.secretUses(oldID); after != before {
				t.Errorf("old secret still counted: %d then %d", before, after)
			}
			if d.secretUses(newID) == 0 {
				t.Error("the new secret's use is not counted")
			}
			for _, s := range d.replicas {
				if !logHas(s, `"event":"client_secret_used","client_id":"svc","secret":"`+newID+`"`) {
					t.Errorf("replica %s logged no client_secret_used event for the new secret", s.base)
				}
			}

			// 3. The old secret goes.
			d.writeConfig(clientsConfig(newHash))
			d.mustCLI("", nil, "config", "check")
			d.hangup()
			d.eachReplica("the old secret is refused", func(base string) bool { return clientCredentials(base, oldSecret) == http.StatusUnauthorized })
			l.progress(10)

			// A broken file is refused by config check and by the reload.
			d.writeConfig(clientsConfig("sha256:broken"))
			if _, stderr, code := d.cli("", nil, "config", "check"); code == 0 || !strings.Contains(stderr, "secret_hash") {
				t.Errorf("config check of a broken file: exit %d, %s", code, stderr)
			}
			d.hangup()
			d.eachReplica("the reload is refused", func(base string) bool {
				for _, s := range d.replicas {
					if s.base == base {
						return logHas(s, "config_reload_refused")
					}
				}
				return false
			})
			l.progress(10)
			l.stop()
			d.writeConfig(clientsConfig(newHash))
		})
	}
}

// TestCompromisedAdminClient follows the runbook "An admin client is
// compromised": its secret is replaced at once (no overlap), every
// replica refuses the old secret right after SIGHUP, and the audit log
// names every token it was issued.
func TestCompromisedAdminClient(t *testing.T) {
	stolen, stolenHash := newSecret(t)
	d := newDeployment(t, "embedded", clientsConfig(stolenHash))
	d.start(nil)
	d.start(nil)
	if got := clientCredentials(d.replicas[0].base, stolen); got != http.StatusOK {
		t.Fatalf("client_credentials before: %d", got)
	}
	fresh, freshHash := newSecret(t)
	d.writeConfig(clientsConfig(freshHash))
	d.mustCLI("", nil, "config", "check")
	d.hangup()
	d.eachReplica("the stolen secret is refused", func(base string) bool { return clientCredentials(base, stolen) == http.StatusUnauthorized })
	for _, s := range d.replicas {
		if got := clientCredentials(s.base, fresh); got != http.StatusOK {
			t.Errorf("replica %s with the new secret: %d", s.base, got)
		}
	}
	if !testutil.WaitFor(5*time.Second, func() bool {
		return logHas(d.replicas[0], `"event":"token_issued","grant":"client_credentials","client_id":"svc"`)
	}) {
		t.Error("the audit log does not name the tokens the client was issued")
	}
}
