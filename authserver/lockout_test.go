package authserver_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/password"
)

// behindProxy lets tests pick the client address: the test client
// connects from loopback, which they trust as a proxy.
func behindProxy(o *authserver.Options) {
	o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.0.0.0/8")}
}

// attemptFrom is a password login of user through the public client from
// the address (or X-Forwarded-For list) xff.
func (e *env) attemptFrom(t testing.TB, xff, user, pw string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.http.URL+"/oauth2/token",
		strings.NewReader(form("grant_type", "password", "client_id", "app", "username", user, "password", pw).Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", xff)
	return e.do(t, req)
}

// TestPerIPLockoutIsExactUnderConcurrency sprays wrong passwords over
// many user names from one address at once: exactly max_failures_per_ip
// of them reach the password check, whatever the interleaving.
func TestPerIPLockoutIsExactUnderConcurrency(t *testing.T) {
	const limit, n = 10, 40
	e := newEnv(t, func(o *authserver.Options) { o.Lockout.MaxFailuresPerIP = limit })
	checked := concurrentGuesses(t, e, n, func(i int) string { return fmt.Sprintf("spray-%d", i) })
	if checked != limit {
		t.Fatalf("%d guesses from one address reached the password check, want exactly %d", checked, limit)
	}
	// The limit holds afterwards too, for a known user's right password.
	if r := e.tryLogin(t); r.status != http.StatusTooManyRequests {
		t.Fatalf("login from the locked address: %d %s, want 429", r.status, r.raw)
	}
}

// concurrentGuesses sends n wrong-password logins at once, the i-th for
// user(i), and returns how many reached the password check (400); every
// other answer must be the lockout's 429.
func concurrentGuesses(t *testing.T, e *env, n int, user func(i int) string) int {
	t.Helper()
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i] = e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", user(i), "password", "wrong-password"), "").status
		})
	}
	wg.Wait()
	checked := 0
	for _, c := range codes {
		switch c {
		case http.StatusBadRequest:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("unexpected status %d", c)
		}
	}
	return checked
}

// slowHash is an argon2id hash that takes long to check (the cost comes
// from the stored parameters, not the Hasher's), so that one login holds
// a hashing slot while others arrive. It matches no password.
func slowHash() string {
	b64 := base64.RawStdEncoding
	return "$argon2id$v=19$m=8,t=60000,p=1$" + b64.EncodeToString(make([]byte, 16)) + "$" + b64.EncodeToString(make([]byte, 32))
}

// TestBurstEndingIn503ChargesNothing: logins that find no hashing slot in
// time are answered 503 with Retry-After and charge neither their user
// nor their address; the attempts of the same burst that were checked
// are charged to both.
func TestBurstEndingIn503ChargesNothing(t *testing.T) {
	const perIP = 200
	oneSlot, err := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *authserver.Options) {
		behindProxy(o)
		o.Hasher = oneSlot
		o.PasswordWait = 20 * time.Millisecond
		o.Lockout = authserver.Lockout{MaxFailures: 1, MaxFailuresPerIP: perIP, Window: 15 * time.Minute}
	})
	ctx := context.Background()
	if _, err := e.srv.Users().Add(ctx, "slow", "irrelevant-password", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.SetPassword(ctx, "slow", slowHash()); err != nil {
		t.Fatal(err)
	}
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		e.attemptFrom(t, "198.51.100.1", "slow", "wrong-password")
	}()

	const burstIP = "203.0.113.7"
	var mu sync.Mutex
	outcome := map[string]int{} // user name → status of its one attempt
	attempt := func(user string) int {
		r := e.attemptFrom(t, burstIP, user, "wrong-password")
		if r.status == http.StatusServiceUnavailable && (r.str("error") != "temporarily_unavailable" || r.header.Get("Retry-After") == "") {
			t.Errorf("503 without temporarily_unavailable and Retry-After: %v %s", r.header, r.raw)
		}
		mu.Lock()
		outcome[user] = r.status
		mu.Unlock()
		return r.status
	}
	// Until the slow check holds the slot, attempts are checked; then
	// they time out waiting for it.
	for i := 0; attempt(fmt.Sprintf("early-%d", i)) != http.StatusServiceUnavailable; i++ {
		select {
		case <-slowDone:
			t.Fatal("the slow check ended before any login waited for its slot")
		default:
		}
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() { attempt(fmt.Sprintf("burst-%d", i)) })
	}
	wg.Wait()
	<-slowDone

	checked, refused := 0, 0
	for user, status := range outcome {
		switch status {
		case http.StatusBadRequest:
			checked++
		case http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("%s: unexpected status %d", user, status)
		}
	}
	if refused == 0 {
		t.Fatal("no attempt was answered 503")
	}
	// A user is locked after one failure: one more attempt tells whether
	// its first was charged. From another address, so as not to charge
	// the burst's.
	for user, status := range outcome {
		want := http.StatusBadRequest // not charged: this is its first failure
		if status == http.StatusBadRequest {
			want = http.StatusTooManyRequests
		}
		if r := e.attemptFrom(t, "192.0.2.99", user, "wrong-password"); r.status != want {
			t.Errorf("%s (first attempt %d): second attempt %d, want %d", user, status, r.status, want)
		}
	}
	// The burst's address was charged for its checked attempts only.
	for i := range perIP - checked {
		if r := e.attemptFrom(t, burstIP, fmt.Sprintf("after-%d", i), "wrong-password"); r.status != http.StatusBadRequest {
			t.Fatalf("failure %d of %d left to the burst address (%d checked, %d refused): %d", i+1, perIP-checked, checked, refused, r.status)
		}
	}
	if r := e.attemptFrom(t, burstIP, "one-too-many", "wrong-password"); r.status != http.StatusTooManyRequests {
		t.Fatalf("failure %d from the burst address: %d, want 429", perIP+1, r.status)
	}
}

// TestSuccessIsNotAnIPFailure: the per-IP counter counts failures only,
// so correct logins between failures do not bring the lockout closer.
func TestSuccessIsNotAnIPFailure(t *testing.T) {
	e := newEnv(t, func(o *authserver.Options) { o.Lockout.MaxFailuresPerIP = 2 })
	wrong := func() int {
		return e.post(t, "/oauth2/token", form("grant_type", "password", "client_id", "app", "username", "nobody", "password", "wrong-password"), "").status
	}
	wrong()
	for range 5 {
		e.login(t)
	}
	if got := wrong(); got != http.StatusBadRequest {
		t.Fatalf("second failure: %d, want 400", got)
	}
	if got := wrong(); got != http.StatusTooManyRequests {
		t.Fatalf("third failure: %d, want 429", got)
	}
}

// TestIPv6ClientsCountedBy64: addresses of one /64 share a counter, and
// the next /64 has its own.
func TestIPv6ClientsCountedBy64(t *testing.T) {
	e := newEnv(t, func(o *authserver.Options) {
		behindProxy(o)
		o.Lockout.MaxFailuresPerIP = 2
	})
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe"} {
		if r := e.attemptFrom(t, a, "nobody-"+a, "wrong-password"); r.status != http.StatusBadRequest {
			t.Fatalf("failure from %s: %d", a, r.status)
		}
	}
	if r := e.attemptFrom(t, "2001:db8:1:2:abcd::9", "someone", "wrong-password"); r.status != http.StatusTooManyRequests {
		t.Errorf("third failure in 2001:db8:1:2::/64: %d, want 429", r.status)
	}
	if r := e.attemptFrom(t, "2001:db8:1:3::1", "someone", "wrong-password"); r.status != http.StatusBadRequest {
		t.Errorf("failure from the next /64: %d, want 400", r.status)
	}
}

// TestForwardedForWithPorts: entries with a port name the same client as
// without, in IPv4 and IPv6 form, and a proxy's own entry with a port is
// still recognised as trusted.
func TestForwardedForWithPorts(t *testing.T) {
	e := newEnv(t, func(o *authserver.Options) {
		behindProxy(o)
		o.Lockout.MaxFailuresPerIP = 2
	})
	tests := []struct {
		name    string
		entries []string // two failures, then a third that must be 429
	}{
		{"ipv4", []string{"198.51.100.7:4711", "198.51.100.7", "1.2.3.4, 198.51.100.7:80, 10.0.0.2:3128"}},
		{"ipv6", []string{"[2001:db8:7::1]:443", "2001:db8:7::2", "[2001:db8:7::3]:8443, 10.0.0.2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i, xff := range tc.entries {
				want := http.StatusBadRequest
				if i == 2 {
					want = http.StatusTooManyRequests
				}
				if r := e.attemptFrom(t, xff, "user-"+tc.name, "wrong-password"); r.status != want {
					t.Errorf("attempt %d (X-Forwarded-For %q): %d, want %d", i+1, xff, r.status, want)
				}
			}
		})
	}
}
