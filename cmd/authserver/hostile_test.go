package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/internal/testutil"
)

// hostileEnv gives the server short timeouts, so that the test sees them
// act, and an admin listener for its metrics.
func hostileEnv(admin string) []string {
	return []string{
		"AUTHSERVER_HTTP_ADMIN_ADDR=" + admin,
		"AUTHSERVER_HTTP_READ_HEADER_TIMEOUT=1s",
		"AUTHSERVER_HTTP_READ_TIMEOUT=2s",
		"AUTHSERVER_HTTP_IDLE_TIMEOUT=2s",
		"AUTHSERVER_PASSWORDS_MAX_CONCURRENT=1",
		// The flood is of one user's right password: many attempts in
		// flight at once would otherwise be held as a guessing attack.
		"AUTHSERVER_PASSWORDS_LOCKOUT_MAX_FAILURES=1000000",
		"AUTHSERVER_PASSWORDS_LOCKOUT_MAX_FAILURES_PER_IP=1000000",
	}
}

// metric returns the value of an unlabelled metric served at admin.
func metric(t *testing.T, admin, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// curlForm returns the form of a printed curl line (see runCurl).
func curlForm(line string) url.Values {
	fields := strings.Fields(line)
	form := url.Values{}
	for i := 1; i < len(fields)-1; i++ {
		if fields[i] == "-d" {
			k, v, _ := strings.Cut(fields[i+1], "=")
			form.Add(k, v)
			i++
		}
	}
	return form
}

// openConns dials n connections to addr, runs send on each (what the
// client writes, until it fails) and returns, per connection, how long
// after the dial the server ended it (closed it or answered), or -1 if it
// had not within limit.
func openConns(t *testing.T, addr string, n int, limit time.Duration, send func(c net.Conn)) []time.Duration {
	t.Helper()
	ended := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		start := time.Now()
		c.SetDeadline(start.Add(limit))
		wg.Go(func() { send(c) })
		wg.Go(func() {
			defer c.Close()
			_, err := c.Read(make([]byte, 1))
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				ended[i] = -1
				return
			}
			ended[i] = time.Since(start)
		})
	}
	wg.Wait()
	return ended
}

// checkEnded fails t if a connection outlived limit and returns the
// longest time a connection lived.
func checkEnded(t *testing.T, what string, ended []time.Duration, limit time.Duration) time.Duration {
	t.Helper()
	for i, d := range ended {
		if d < 0 {
			t.Fatalf("%s: connection %d still open after %s", what, i, limit)
		}
	}
	return slices.Max(ended)
}

// trickle writes head, then one byte of junk every 100ms, until the
// write fails.
func trickle(head, junk string) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		for i := 0; ; i++ {
			time.Sleep(100 * time.Millisecond) // a slow client's pace
			if _, err := io.WriteString(c, junk[i%len(junk):i%len(junk)+1]); err != nil {
				return
			}
		}
	}
}

// TestHostileClients runs slow and idle connections, oversized requests
// and a password flood at twice the hashing capacity against one server:
// every connection ends within the server's timeouts, the server keeps
// answering, refreshes keep their p99 under 50 ms during the flood, and
// goroutines and memory come back to where they were.
func TestHostileClients(t *testing.T) {
	dir := t.TempDir()
	admin := testutil.FreeAddr(t)
	srv := startServer(t, dir, hostileEnv(admin), "--dev")
	addr := strings.TrimPrefix(srv.base, "http://")
	login := curlForm(srv.curlLine(t))
	startGoroutines := metric(t, admin, "go_goroutines")
	const limit = 6 * time.Second // the longest timeout (2s) and a wide margin

	t.Run("slow-headers", func(t *testing.T) {
		ended := openConns(t, addr, 100, limit, trickle("POST /oauth2/token HTTP/1.1\r\nHost: a\r\n", "X-Slow: aaaa\r\n"))
		t.Logf("100 slowloris connections: the last ended after %s (read_header_timeout 1s)", checkEnded(t, "slow headers", ended, limit))
	})
	t.Run("slow-body", func(t *testing.T) {
		head := "POST /oauth2/token HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n"
		ended := openConns(t, addr, 50, limit, trickle(head, "grant_type=password&"))
		t.Logf("50 slow bodies: the last ended after %s (read_timeout 2s)", checkEnded(t, "slow body", ended, limit))
	})
	t.Run("idle", func(t *testing.T) {
		var (
			served bool
			mu     sync.Mutex
		)
		ended := openConns(t, addr, 300, limit, func(net.Conn) {
			mu.Lock()
			defer mu.Unlock()
			if !served {
				// While they are open, the server answers.
				code, _, body := postToken(t, srv.base, login)
				if code != 200 {
					t.Errorf("login among 300 idle connections: %d %v", code, body)
				}
				served = true
			}
		})
		t.Logf("300 idle connections: the last ended after %s", checkEnded(t, "idle", ended, limit))
	})
	t.Run("oversized", func(t *testing.T) {
		req, _ := http.NewRequest("POST", srv.base+"/oauth2/token", strings.NewReader(login.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("64 KiB header: %d, want 431", resp.StatusCode)
		}
		big := login.Encode() + "&pad=" + strings.Repeat("a", 1<<20)
		resp, err = http.Post(srv.base+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("1 MiB body: %d, want 413", resp.StatusCode)
		}
	})
	t.Run("password-flood", func(t *testing.T) { passwordFlood(t, srv.base, login) })

	testutil.Eventually(t, 10*time.Second, fmt.Sprintf("goroutines back to %v", startGoroutines), func() bool {
		return metric(t, admin, "go_goroutines") <= startGoroutines+5
	})
	t.Logf("goroutines %v at the start, %v at the end; resident memory %.0f MiB",
		startGoroutines, metric(t, admin, "go_goroutines"), metric(t, admin, "process_resident_memory_bytes")/(1<<20))
}

// passwordFlood measures the time L of one login (one hashing slot:
// AUTHSERVER_PASSWORDS_MAX_CONCURRENT=1) and the refreshes of four
// sessions alone, then offers logins at 2/L a second, twice what the slot
// can hash, for three seconds, while the sessions refresh one after
// another: every login is answered 200 or 503, every refresh 200, and the
// refreshes' p99 stays under 50 ms (under refreshP99Limit when the server
// is built with the race detector, which slows it several times).
func passwordFlood(t *testing.T, base string, login url.Values) {
	var lat []time.Duration
	for range 5 {
		start := time.Now()
		if code, _, body := postToken(t, base, login); code != 200 {
			t.Fatalf("login: %d %v", code, body)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	one := lat[len(lat)/2]
	sessions := make([]string, 4)
	for i := range sessions {
		_, _, body := postToken(t, base, login)
		sessions[i] = body["refresh_token"].(string)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	alone, _ := refreshLoad(t, hc, base, sessions, 2*time.Second, 0, nil)
	flood, codes := refreshLoad(t, hc, base, sessions, 3*time.Second, one/2, login)
	for code, n := range codes {
		if code != 200 && code != http.StatusServiceUnavailable {
			t.Errorf("%d logins during the flood answered %d, want 200 or 503", n, code)
		}
	}
	p99 := func(d []time.Duration) time.Duration { return d[len(d)*99/100] }
	t.Logf("one login %s; %d logins offered in 3s (%d answered 200, %d 503); refreshes alone: %d, p50 %s, p99 %s; during the flood: %d, p50 %s, p99 %s",
		one, codes[200]+codes[503]+codes[0], codes[200], codes[503],
		len(alone), alone[len(alone)/2], p99(alone), len(flood), flood[len(flood)/2], p99(flood))
	if p99(flood) > refreshP99Limit {
		t.Errorf("refresh p99 during the password flood: %s, want under %s", p99(flood), refreshP99Limit)
	}
}

// refreshLoad refreshes sessions one after another, each in its own
// goroutine, for d, and with every > 0 posts login every that often
// meanwhile. It returns the refreshes' latencies, sorted, and the logins'
// statuses (0: no answer). A failed refresh fails t.
func refreshLoad(t *testing.T, hc *http.Client, base string, sessions []string, d, every time.Duration, login url.Values) ([]time.Duration, map[int]int) {
	t.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		codes    = map[int]int{}
		refresh  []time.Duration
		failures []string
	)
	end := time.Now().Add(d)
	if every > 0 {
		wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for time.Now().Before(end) {
				<-tick.C
				wg.Go(func() {
					code := 0
					if resp, err := hc.PostForm(base+"/oauth2/token", login); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						code = resp.StatusCode
					}
					mu.Lock()
					codes[code]++
					mu.Unlock()
				})
			}
		})
	}
	for i := range sessions {
		wg.Go(func() {
			for time.Now().Before(end) {
				start := time.Now()
				code, next, err := refreshOnce(hc, base, "demo-app", sessions[i])
				d := time.Since(start)
				mu.Lock()
				refresh = append(refresh, d)
				if err != nil || code != 200 {
					failures = append(failures, fmt.Sprintf("%d %v", code, err))
				}
				mu.Unlock()
				if err != nil || code != 200 {
					return
				}
				sessions[i] = next
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("refreshes failed: %v", failures)
	}
	slices.Sort(refresh)
	return refresh, codes
}
