package authserver

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// The login session and the CSRF binding of the forms are cookies with
// the __Host- prefix: Secure, Path=/, no Domain, so that no other host or
// path can set or read them. Browsers treat http://127.0.0.1 and
// http://localhost as secure, so the same attributes work in development.
const (
	sessionCookie = "__Host-authserver-session"
	csrfCookie    = "__Host-authserver-csrf"
)

// loginSession is the content of the session cookie, which carries it in
// clear (no secret in it) with a MAC. Logout revokes its id in the store.
type loginSession struct {
	ID       string `json:"sid"`
	UserID   string `json:"uid"`
	UserName string `json:"name"`
	// Credential fingerprints the user's password hash, so that a
	// password change ends every session.
	Credential string `json:"cred"`
	// Version is the user's credential version at the login: the codes
	// issued from this session carry it, so that a session created from
	// one after a password change, disable or delete is refused.
	Version  uint64 `json:"ver"`
	AuthTime int64  `json:"auth"`
	Expires  int64  `json:"exp"`
}

// deriveSessionKeys derives the MAC keys of session and CSRF cookies from
// the refresh-token keys, current first: no configuration is added, the
// two uses never share a key, and a browser's session outlives a rotation
// of keys.encryption_key as refresh tokens do (the previous keys verify).
func deriveSessionKeys(refreshKey []byte, previous ...[]byte) ([][]byte, error) {
	var keys [][]byte
	for _, rk := range append([][]byte{refreshKey}, previous...) {
		k, err := hkdf.Key(sha256.New, rk, nil, "authserver login session v1", 32)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

// cookieMAC is body's MAC for purpose under the current session key.
func (s *Server) cookieMAC(purpose string, body []byte) []byte {
	return cookieMACWith(s.sessionKeys[0], purpose, body)
}

// validCookieMAC reports whether mac is body's MAC for purpose under any
// session key, comparing with every one in constant time.
func (s *Server) validCookieMAC(purpose string, body, mac []byte) bool {
	ok := false
	for _, k := range s.sessionKeys {
		ok = hmac.Equal(mac, cookieMACWith(k, purpose, body)) || ok
	}
	return ok
}

func cookieMACWith(key []byte, purpose string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)
}

func credentialOf(u store.User) string {
	sum := sha256.Sum256([]byte(u.PasswordHash))
	return b64url.EncodeToString(sum[:12])
}

func sessionRevocationID(sid string) string { return "session:" + sid }

// startSession signs user in for Login.SessionTTL.
func (s *Server) startSession(w http.ResponseWriter, user store.User) (*loginSession, error) {
	id, err := randomBytes(16)
	if err != nil {
		return nil, err
	}
	now := s.now()
	sess := &loginSession{
		ID: b64url.EncodeToString(id), UserID: user.ID, UserName: user.Name, Credential: credentialOf(user),
		Version: user.CredentialVersion, AuthTime: now.Unix(), Expires: now.Add(s.opts.Login.SessionTTL).Unix(),
	}
	body, err := json.Marshal(sess)
	if err != nil {
		return nil, err
	}
	value := b64url.EncodeToString(body) + "." + b64url.EncodeToString(s.cookieMAC("session", body))
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/", MaxAge: int(s.opts.Login.SessionTTL / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return sess, nil
}

// currentSession returns the live session of the browser, or nil when it
// has none, it has expired or was ended, or its user can no longer sign
// in. The error is a store failure.
func (s *Server) currentSession(r *http.Request) (*loginSession, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	body64, mac64, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil, nil
	}
	body, err1 := b64url.DecodeString(body64)
	mac, err2 := b64url.DecodeString(mac64)
	if err1 != nil || err2 != nil || !s.validCookieMAC("session", body, mac) {
		return nil, nil
	}
	var sess loginSession
	if json.Unmarshal(body, &sess) != nil {
		return nil, nil
	}
	now := s.now()
	if now.Unix() >= sess.Expires {
		return nil, nil
	}
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	revoked, err := s.opts.Store.IsRevoked(ctx, sessionRevocationID(sess.ID), now)
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, nil
	}
	user, err := s.opts.Store.GetUser(ctx, sess.UserName)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if user.ID != sess.UserID || user.Disabled || credentialOf(user) != sess.Credential || user.CredentialVersion != sess.Version {
		return nil, nil
	}
	return &sess, nil
}

// endSession revokes sess in the store until it would have expired and
// clears the cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, sess *loginSession) error {
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	if err := s.opts.Store.RevokeToken(ctx, sessionRevocationID(sess.ID), time.Unix(sess.Expires, 0)); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return nil
}

// csrfToken returns the token the forms of this browser carry: a MAC of a
// random value in the CSRF cookie, which it sets when the browser has
// none. A cross-site page can neither read the cookie nor compute the
// token.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) (string, error) {
	var binding []byte
	if c, err := r.Cookie(csrfCookie); err == nil {
		if b, err := b64url.DecodeString(c.Value); err == nil && len(b) == 32 {
			binding = b
		}
	}
	if binding == nil {
		var err error
		if binding, err = randomBytes(32); err != nil {
			return "", err
		}
		http.SetCookie(w, &http.Cookie{
			Name: csrfCookie, Value: b64url.EncodeToString(binding), Path: "/",
			Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		})
	}
	return b64url.EncodeToString(s.cookieMAC("csrf", binding)), nil
}

// checkCSRF reports whether the submitted form carries the token of this
// browser's CSRF cookie.
func (s *Server) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return false
	}
	binding, err1 := b64url.DecodeString(c.Value)
	token, err2 := b64url.DecodeString(r.PostForm.Get("csrf"))
	return err1 == nil && err2 == nil && len(binding) == 32 && s.validCookieMAC("csrf", binding, token)
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}
