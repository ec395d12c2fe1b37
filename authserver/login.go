package authserver

import (
	"crypto/sha256"
	"errors"
	"net"
	"net/http"

	oerrors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/oauthkit/authserver/authserver/store"
)

// lockoutKeys are the counters of one login attempt: the user name (known
// or not, hashed so that the store holds no user names in clear) and the
// client IP.
func lockoutKeys(username, ip string) (user, addr string) {
	sum := sha256.Sum256([]byte(username))
	return "user:" + b64url.EncodeToString(sum[:18]), "ip:" + ip
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// login checks a user's password under the lockout policy. Unknown users
// cost one argon2id hash like known ones and are counted and answered the
// same, so neither timing nor the lockout reveals who exists.
func (s *Server) login(r *http.Request, c *Client, username, pw string) (store.User, error) {
	userKey, ipKey := lockoutKeys(username, clientIP(r))
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	now := s.now()
	lo := s.opts.Lockout
	for _, k := range []struct {
		key string
		max int
	}{{userKey, lo.MaxFailures}, {ipKey, lo.MaxFailuresPerIP}} {
		if k.max <= 0 {
			continue
		}
		n, until, err := s.opts.Store.Failures(ctx, k.key, now)
		if err != nil {
			return store.User{}, unavailable(err)
		}
		if n >= k.max {
			s.metrics.lockouts.Inc()
			s.audit.Warn("login refused: locked out", "event", "login_locked_out", "client_id", c.ID, "ip", clientIP(r))
			return store.User{}, &Error{
				Code: oerrors.ErrInvalidGrant, Status: http.StatusTooManyRequests,
				Description: "too many failed attempts, retry later", RetryAfter: until.Sub(now),
			}
		}
	}
	user, err := s.opts.Store.GetUser(ctx, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, unavailable(err)
	}
	ok, err := s.opts.Hasher.Verify(r.Context(), user.PasswordHash, pw)
	if err != nil {
		if r.Context().Err() != nil {
			return store.User{}, unavailable(err)
		}
		// A stored hash we cannot parse: refuse like a wrong password and
		// say why in the log.
		s.log.Error("password check failed", "user_id", user.ID, "error", err)
	}
	ctx, cancel = s.storeCtx(r)
	defer cancel()
	if !ok || user.Disabled {
		for _, key := range []string{userKey, ipKey} {
			if _, _, err := s.opts.Store.AddFailure(ctx, key, now, lo.Window); err != nil {
				return store.User{}, unavailable(err)
			}
		}
		s.audit.Warn("login failed", "event", "login_failed", "client_id", c.ID, "ip", clientIP(r), "known_user", user.ID != "")
		return store.User{}, invalidGrant("invalid username or password")
	}
	if err := s.opts.Store.ResetFailures(ctx, userKey); err != nil {
		return store.User{}, unavailable(err)
	}
	return user, nil
}
