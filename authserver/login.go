package authserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"time"

	oerrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/oauthkit/authserver/authserver/store"
)

// defaultPasswordWait bounds how long a login waits for a free
// password-hashing slot before it is answered 503 (Options.PasswordWait):
// under a flood, fail fast and let the client retry rather than pile up
// requests.
const defaultPasswordWait = 5 * time.Second

// userLockoutKey is the counter of a user name, known or not, hashed so
// that the store holds no user names in clear.
func userLockoutKey(username string) string {
	sum := sha256.Sum256([]byte(username))
	return "user:" + b64url.EncodeToString(sum[:18])
}

// ipLockoutKey is the counter of a client address. An IPv6 client is
// counted by its /64: a single host usually holds a whole /64 and can
// pick a fresh address in it for every attempt.
func ipLockoutKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + ip.String()
}

func (s *Server) lockedOut(c *Client, ip netip.Addr, until, now time.Time) *Error {
	s.metrics.lockouts.Inc()
	s.audit.Warn("login refused: locked out", "event", "login_locked_out", "client_id", c.ID, "ip", ip.String())
	return &Error{
		Code: oerrors.ErrInvalidGrant, Status: http.StatusTooManyRequests,
		Description: "too many failed attempts, retry later", RetryAfter: until.Sub(now),
	}
}

// login checks a user's password under the lockout policy. Unknown users
// cost one argon2id hash like known ones and are counted and answered the
// same, so neither timing nor the lockout reveals who exists.
//
// Each attempt reserves its place as a failure in both counters, the
// user's and the client IP's, before the password is checked, so that
// many guesses sent at once cannot all slip under either limit. The
// reservations stand for a wrong password. Everything else gives them
// back: a success resets the user's counter and refunds the IP's (which
// counts failures only, so that a busy NAT is not locked out by its
// successful logins); an attempt that checked nothing (503 for want of a
// hashing slot or of the store, a lockout by the other counter) refunds
// what it reserved.
func (s *Server) login(r *http.Request, c *Client, username, pw string) (store.User, error) {
	ip := s.clientIP(r)
	userKey, ipKey := userLockoutKey(username), ipLockoutKey(ip)
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	now := s.now()
	lo := s.opts.Lockout
	var reserved []string // keys to refund unless the attempt failed
	defer func() {
		for _, key := range reserved {
			s.refundFailure(r, key, now)
		}
	}()
	if lo.MaxFailuresPerIP > 0 {
		// A read first, so that a flood from a locked-out address costs
		// no write; the reservation below is what enforces the limit.
		n, until, err := s.opts.Store.Failures(ctx, ipKey, now)
		if err != nil {
			return store.User{}, storeError(err)
		}
		if n >= lo.MaxFailuresPerIP {
			return store.User{}, s.lockedOut(c, ip, until, now)
		}
		n, until, err = s.opts.Store.AddFailure(ctx, ipKey, now, lo.Window)
		if err != nil {
			return store.User{}, storeError(err)
		}
		reserved = append(reserved, ipKey)
		if n > lo.MaxFailuresPerIP {
			return store.User{}, s.lockedOut(c, ip, until, now)
		}
	}
	if lo.MaxFailures > 0 {
		n, until, err := s.opts.Store.AddFailure(ctx, userKey, now, lo.Window)
		if err != nil {
			return store.User{}, storeError(err)
		}
		if n > lo.MaxFailures {
			// Attempts on a locked name keep counting, as they always
			// have: the window's end does not move.
			return store.User{}, s.lockedOut(c, ip, until, now)
		}
		reserved = append(reserved, userKey)
	}
	user, err := s.opts.Store.GetUser(ctx, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, storeError(err)
	}
	ok, err := s.checkPassword(r, user, pw)
	if err != nil {
		return store.User{}, err
	}
	if !ok || user.Disabled {
		reserved = nil // a real failure: both reservations stand
		s.audit.Warn("login failed", "event", "login_failed", "client_id", c.ID, "ip", ip.String(), "known_user", user.ID != "")
		return store.User{}, invalidGrant("invalid username or password")
	}
	ctx, cancel = s.storeCtx(r)
	defer cancel()
	if lo.MaxFailures > 0 {
		if err := s.opts.Store.ResetFailures(ctx, userKey); err != nil {
			return store.User{}, storeError(err)
		}
		reserved = slices.DeleteFunc(reserved, func(k string) bool { return k == userKey })
	}
	s.upgradeHash(r, user, pw)
	return user, nil
}

// refundFailure gives back a reservation of login, even when the request
// has ended, since the attempt it stood for never failed. A refund that
// fails only leaves the counter one too high until its window ends.
func (s *Server) refundFailure(r *http.Request, key string, now time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.opts.StoreTimeout)
	defer cancel()
	if err := s.opts.Store.RefundFailure(ctx, key, now); err != nil {
		s.log.Warn("lockout refund failed", "error", err)
	}
}

// checkPassword runs the argon2id check (against a dummy hash for an
// unknown user), waiting at most Options.PasswordWait for a hashing slot.
func (s *Server) checkPassword(r *http.Request, user store.User, pw string) (bool, error) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.PasswordWait)
	defer cancel()
	ok, err := s.opts.Hasher.Verify(ctx, user.PasswordHash, pw)
	switch {
	case err == nil:
		return ok, nil
	case ctx.Err() != nil:
		return false, withCause(busy(), err)
	}
	// A stored hash we cannot parse: refuse like a wrong password and say
	// why in the log.
	s.log.Error("password check failed", "user_id", user.ID, "error", err)
	return false, nil
}

// upgradeHash re-hashes a correct password made with other argon2id
// parameters than the configured ones, so that raising the cost reaches
// every user at their next login. A failure only delays the upgrade.
func (s *Server) upgradeHash(r *http.Request, user store.User, pw string) {
	if !s.opts.Hasher.NeedsRehash(user.PasswordHash) {
		return
	}
	hash, err := s.opts.Hasher.Hash(r.Context(), pw)
	if err == nil {
		ctx, cancel := s.storeCtx(r)
		defer cancel()
		// Not SetPassword: the same password keeps the user's sessions, and
		// a password changed since this login read it stays.
		err = s.opts.Store.UpgradePasswordHash(ctx, user.Name, user.PasswordHash, hash)
	}
	if err != nil {
		s.log.Warn("password hash upgrade failed", "user_id", user.ID, "error", err)
	}
}

// accessTokenOnly answers a password login of a client that may not use
// the refresh_token grant: a refresh token it cannot redeem would only be
// a session that nothing but revocation ends, so it gets the access token
// alone and no family is created.
func (s *Server) accessTokenOnly(c *Client, user store.User, scope []string, grant string) (*tokenResponse, error) {
	jti, err := newJTI()
	if err != nil {
		return nil, err
	}
	claims := accessClaims{Subject: user.ID, Audience: s.audience(c), JTI: jti, ClientID: c.ID, Scope: scope, Extra: user.Claims}
	tok, err := s.sign(c, &claims, s.now())
	if err != nil {
		return nil, err
	}
	s.auditLogin(grant, c, user, "")
	s.audit.Info("token issued", "event", "token_issued", "grant", grant, "client_id", c.ID, "user_id", user.ID, "jti", jti)
	return &tokenResponse{AccessToken: tok, ExpiresIn: s.ttlSeconds(), Scope: scope}, nil
}
