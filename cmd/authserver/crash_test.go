package main

import (
	"database/sql"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/oauthkit/authserver/internal/testutil"
)

// loadClient is one session of a refresh load: the last refresh token
// the server acknowledged.
type loadClient struct {
	last string
}

// refreshOnce redeems token and returns the HTTP status and the new
// refresh token; err is a transport error (the server is gone).
func refreshOnce(hc *http.Client, base, clientID, token string) (int, string, error) {
	resp, err := hc.PostForm(base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {token}})
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, "", err // cut off mid-answer: not acknowledged
	}
	return resp.StatusCode, body.RefreshToken, nil
}

// integrityCheck runs PRAGMA integrity_check on the SQLite file at path
// and returns its verdict ("ok" when sound).
func integrityCheck(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var verdict string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&verdict); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	return verdict
}

// TestKillDuringRefreshLoad kills the server (SIGKILL) in the middle of a
// refresh load, round after round: the database passes integrity_check,
// and after a restart every client's last acknowledged refresh token is
// redeemed (its rotation is there; one in flight at the kill is either
// absent or replayed within the grace).
func TestKillDuringRefreshLoad(t *testing.T) {
	const rounds, clients = 12, 8
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "authserver.db")
	srv := startServer(t, dir, nil, "--dev")
	sessions := make([]*loadClient, clients)
	line := srv.curlLine(t)
	for i := range sessions {
		sessions[i] = &loadClient{last: runCurl(t, line)["refresh_token"].(string)}
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	acked := 0
	for round := range rounds {
		var (
			n    atomic.Int64
			stop atomic.Bool
			wg   sync.WaitGroup
			bad  = make(chan string, clients)
		)
		for _, c := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					code, next, err := refreshOnce(hc, srv.base, "demo-app", c.last)
					if err != nil {
						return
					}
					if code != 200 {
						bad <- http.StatusText(code)
						return
					}
					c.last = next
					n.Add(1)
				}
			}()
		}
		// Kill after a random number of rotations, somewhere mid-load.
		target := int64(clients * (2 + rand.IntN(20)))
		loaded := testutil.WaitFor(30*time.Second, func() bool { return n.Load() >= target || len(bad) > 0 })
		srv.kill()
		stop.Store(true)
		wg.Wait()
		close(bad)
		for b := range bad {
			t.Fatalf("round %d: refresh answered %s under load", round, b)
		}
		if !loaded {
			t.Fatalf("round %d: %d rotations in 30s, want %d", round, n.Load(), target)
		}
		acked += int(n.Load())
		if v := integrityCheck(t, db); v != "ok" {
			t.Fatalf("round %d: integrity_check after SIGKILL: %s", round, v)
		}
		srv = startServer(t, dir, nil, "--dev")
		for i, c := range sessions {
			code, next, err := refreshOnce(hc, srv.base, "demo-app", c.last)
			if err != nil || code != 200 {
				t.Fatalf("round %d: session %d: last acknowledged token after restart: %d %v", round, i, code, err)
			}
			c.last = next
		}
	}
	t.Logf("%d rounds, %d acknowledged rotations under load, none lost", rounds, acked)
}
