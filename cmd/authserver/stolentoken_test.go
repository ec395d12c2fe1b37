package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestStolenRefreshToken follows the runbook "A refresh token was stolen":
// the token, on stdin, leads to its session, which is revoked; the thief's
// copy and every successor stop working, and the user's other sessions
// do not notice.
func TestStolenRefreshToken(t *testing.T) {
	k1, _ := newKEK(t)
	_, hash := newSecret(t)
	d := newDeployment(t, "embedded", clientsConfig(hash))
	d.addUser(keyring(k1))
	d.start(keyring(k1))
	base := d.lb.srv.URL
	other := loginVia(t, base)
	first := loginVia(t, base)
	stolen := mustRefresh(t, base, first, "the session of the stolen token")

	out, stderr, code := d.cli(stolen+"\n", keyring(k1), "sessions", "find", "--token", "-")
	if code != 0 {
		t.Fatalf("sessions find: %d %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "FAMILY") || !strings.Contains(lines[1], " app ") || !strings.Contains(lines[1], "current") {
		t.Fatalf("sessions find output:\n%s", out)
	}
	family := strings.Fields(lines[1])[0]
	if strings.Contains(out+stderr, stolen) {
		t.Error("sessions find printed the token")
	}
	// The token it replaced leads to the same session, marked rotated.
	if out, _, _ := d.cli(first+"\n", keyring(k1), "sessions", "find", "--token", "-"); !strings.Contains(out, family) || !strings.Contains(out, "rotated") {
		t.Errorf("sessions find of the rotated token:\n%s", out)
	}
	// Only stdin: a token given as the flag's value is refused.
	if _, stderr, code := d.cli("", keyring(k1), "sessions", "find", "--token", stolen); code == 0 || strings.Contains(stderr, stolen) {
		t.Errorf("sessions find --token TOKEN: exit %d %s", code, stderr)
	}
	if _, stderr, code := d.cli("not-a-token\n", keyring(k1), "sessions", "find", "--token", "-"); code == 0 || !strings.Contains(stderr, "not a refresh token") {
		t.Errorf("sessions find of garbage: exit %d %s", code, stderr)
	}

	d.mustCLI("", keyring(k1), "sessions", "revoke", "--family", family)
	if status, _ := refresh(t, base, "app", stolen); status != http.StatusBadRequest {
		t.Errorf("the stolen token after revocation: %d, want 400", status)
	}
	if _, stderr, code := d.cli(stolen+"\n", keyring(k1), "sessions", "find", "--token", "-"); code == 0 || !strings.Contains(stderr, "no live session") {
		t.Errorf("sessions find after revocation: exit %d %s", code, stderr)
	}
	mustRefresh(t, base, other, "the user's other session")
}
