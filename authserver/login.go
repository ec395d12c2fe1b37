package authserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"time"

	oerrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/oauthkit/authserver/authserver/store"
)

// passwordWait bounds how long a login waits for a free password-hashing
// slot before it is answered 503: under a flood, fail fast and let the
// client retry rather than pile up requests.
const passwordWait = 5 * time.Second

// userLockoutKey is the counter of a user name, known or not, hashed so
// that the store holds no user names in clear.
func userLockoutKey(username string) string {
	sum := sha256.Sum256([]byte(username))
	return "user:" + b64url.EncodeToString(sum[:18])
}

func ipLockoutKey(ip string) string { return "ip:" + ip }

func (s *Server) lockedOut(c *Client, ip string, until, now time.Time) *Error {
	s.metrics.lockouts.Inc()
	s.audit.Warn("login refused: locked out", "event", "login_locked_out", "client_id", c.ID, "ip", ip)
	return &Error{
		Code: oerrors.ErrInvalidGrant, Status: http.StatusTooManyRequests,
		Description: "too many failed attempts, retry later", RetryAfter: until.Sub(now),
	}
}

// login checks a user's password under the lockout policy. Unknown users
// cost one argon2id hash like known ones and are counted and answered the
// same, so neither timing nor the lockout reveals who exists.
//
// Each attempt reserves its place in the user's counter before the
// password is checked (a successful login then resets it), so that many
// guesses sent at once cannot all slip under the limit. The per-IP counter
// counts failures only, so that a busy NAT is not locked out by its
// successful logins.
func (s *Server) login(r *http.Request, c *Client, username, pw string) (store.User, error) {
	ip := s.clientIP(r)
	userKey, ipKey := userLockoutKey(username), ipLockoutKey(ip)
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	now := s.now()
	lo := s.opts.Lockout
	if lo.MaxFailuresPerIP > 0 {
		n, until, err := s.opts.Store.Failures(ctx, ipKey, now)
		if err != nil {
			return store.User{}, unavailable(err)
		}
		if n >= lo.MaxFailuresPerIP {
			return store.User{}, s.lockedOut(c, ip, until, now)
		}
	}
	if lo.MaxFailures > 0 {
		n, until, err := s.opts.Store.AddFailure(ctx, userKey, now, lo.Window)
		if err != nil {
			return store.User{}, unavailable(err)
		}
		if n > lo.MaxFailures {
			return store.User{}, s.lockedOut(c, ip, until, now)
		}
	}
	user, err := s.opts.Store.GetUser(ctx, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, unavailable(err)
	}
	ok, err := s.checkPassword(r, user, pw)
	if err != nil {
		return store.User{}, err
	}
	ctx, cancel = s.storeCtx(r)
	defer cancel()
	if !ok || user.Disabled {
		if _, _, err := s.opts.Store.AddFailure(ctx, ipKey, now, lo.Window); err != nil {
			return store.User{}, unavailable(err)
		}
		s.audit.Warn("login failed", "event", "login_failed", "client_id", c.ID, "ip", ip, "known_user", user.ID != "")
		return store.User{}, invalidGrant("invalid username or password")
	}
	if err := s.opts.Store.ResetFailures(ctx, userKey); err != nil {
		return store.User{}, unavailable(err)
	}
	s.upgradeHash(r, user, pw)
	return user, nil
}

// checkPassword runs the argon2id check (against a dummy hash for an
// unknown user), waiting at most passwordWait for a hashing slot.
func (s *Server) checkPassword(r *http.Request, user store.User, pw string) (bool, error) {
	ctx, cancel := context.WithTimeout(r.Context(), passwordWait)
	defer cancel()
	ok, err := s.opts.Hasher.Verify(ctx, user.PasswordHash, pw)
	switch {
	case err == nil:
		return ok, nil
	case ctx.Err() != nil:
		e := unavailable(err)
		e.RetryAfter = time.Second
		return false, e
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
