package authserver

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/oauthkit/authserver/authserver/store"
)

// codeTTL is the lifetime of an authorization code: long enough for a
// redirect and one token request, short enough that a leaked code is
// soon worthless (RFC 6749 §4.1.2 recommends at most 10 minutes).
const codeTTL = 60 * time.Second

// authzRequest is a checked authorization request (RFC 6749 §4.1.1 with
// RFC 7636).
type authzRequest struct {
	client      *Client
	redirectURI string // as sent; "" if omitted
	redirect    string // where the response goes
	state       string
	scope       []string
	challenge   string
	prompt      string
	raw         string // the request's parameters, carried through the forms
}

// authzError is a refused authorization request. Without a redirect the
// user is shown an error page: an unknown client or a redirect URI that is
// not registered must never be redirected to (RFC 6749 §4.1.2.1).
type authzError struct {
	code        string // RFC 6749 §4.1.2.1 error code
	description string
	redirect    bool
}

func (e *authzError) Error() string { return e.code + ": " + e.description }

func pageError(description string) *authzError {
	return &authzError{code: "invalid_request", description: description}
}

func redirectError(code, description string) *authzError {
	return &authzError{code: code, description: description, redirect: true}
}

// parseAuthorize checks the parameters of an authorization request. When
// it returns an error that redirects, the request is still returned, with
// client, redirect and state set.
func (s *Server) parseAuthorize(raw string) (*authzRequest, *authzError) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, pageError("The request is malformed.")
	}
	if len(q["client_id"]) != 1 || len(q["redirect_uri"]) > 1 {
		return nil, pageError("The request must name one client and at most one redirect URI.")
	}
	rc, ok := s.clients.lookup(q.Get("client_id"))
	if !ok {
		return nil, pageError("The application is not registered.")
	}
	req := &authzRequest{client: rc, redirectURI: q.Get("redirect_uri"), raw: raw}
	switch {
	case req.redirectURI != "":
		if !matchRedirect(rc.RedirectURIs, req.redirectURI) {
			return nil, pageError("The redirect URI is not registered for this application.")
		}
		req.redirect = req.redirectURI
	case len(rc.RedirectURIs) == 1:
		req.redirect = rc.RedirectURIs[0]
	default:
		return nil, pageError("The request must name a redirect URI.")
	}
	if len(q["state"]) == 1 {
		req.state = q.Get("state")
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return req, redirectError("invalid_request", "parameter "+safeName(k)+" given more than once")
		}
	}
	if !rc.Allows(GrantAuthorizationCode) {
		return req, redirectError("unauthorized_client", "the client may not use the authorization code flow")
	}
	switch rt := q.Get("response_type"); rt {
	case "code":
	case "":
		return req, redirectError("invalid_request", "missing response_type")
	default:
		return req, redirectError("unsupported_response_type", "response_type must be code")
	}
	req.challenge = q.Get("code_challenge")
	switch {
	case req.challenge == "":
		return req, redirectError("invalid_request", "code_challenge is required (PKCE with S256)")
	case q.Get("code_challenge_method") != "S256":
		return req, redirectError("invalid_request", "code_challenge_method must be S256")
	case !isS256Challenge(req.challenge):
		return req, redirectError("invalid_request", "code_challenge must be 43 base64url characters")
	}
	requested, err := parseScope(q.Get("scope"))
	if err == nil {
		req.scope, err = grantScope(requested, rc.Scopes)
	}
	if err != nil {
		return req, redirectError("invalid_scope", "requested scope is malformed or not allowed for the client")
	}
	switch req.prompt = q.Get("prompt"); req.prompt {
	case "", "login", "none", "consent":
	default:
		return req, redirectError("invalid_request", "prompt must be login, none or consent")
	}
	return req, nil
}

// isS256Challenge reports whether c looks like BASE64URL(SHA256(verifier)):
// 43 characters of the base64url alphabet (RFC 7636 §4.2).
func isS256Challenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	_, err := b64url.DecodeString(c)
	return err == nil
}

// isVerifier reports whether v is a code_verifier: 43 to 128 unreserved
// characters (RFC 7636 §4.1).
func isVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// s256 is the S256 code challenge of verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return b64url.EncodeToString(sum[:])
}

// redirectTo sends the browser to the client's redirect URI with params,
// state and iss (RFC 9207) added to its query.
func (s *Server) redirectTo(w http.ResponseWriter, r *http.Request, req *authzRequest, params url.Values) {
	u, err := url.Parse(req.redirect)
	if err != nil { // registered URIs are checked at start
		s.errorPage(w, r, http.StatusBadRequest, "The redirect URI is invalid.")
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	if req.state != "" {
		q.Set("state", req.state)
	}
	q.Set("iss", s.opts.Issuer)
	u.RawQuery = q.Encode()
	noStore(w)
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// refuse answers a refused authorization request: a redirect with the
// error when it is safe, else an error page.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, req *authzRequest, e *authzError) {
	s.log.Debug("authorization refused", "error", e.code, "description", e.description)
	if !e.redirect || req == nil {
		s.errorPage(w, r, http.StatusBadRequest, e.description)
		return
	}
	s.redirectTo(w, r, req, url.Values{"error": {e.code}, "error_description": {e.description}})
}

// handleAuthorize serves GET /oauth2/authorize: the authorization request
// as the client sent it.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	req, e := s.parseAuthorize(r.URL.RawQuery)
	if e != nil {
		s.refuse(w, r, req, e)
		return
	}
	sess, err := s.currentSession(r)
	if err != nil {
		s.unavailablePage(w, r, err)
		return
	}
	switch {
	case req.prompt == "login" || sess == nil:
		if req.prompt == "none" {
			s.refuse(w, r, req, redirectError("login_required", "the user is not signed in"))
			return
		}
		s.loginPage(w, r, req, http.StatusOK, "", "")
	default:
		s.authorized(w, r, req, sess, false)
	}
}

// authorized continues a request whose user is signed in: the consent
// screen for a third-party client that has not just been given it, then
// the code.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, req *authzRequest, sess *loginSession, consented bool) {
	if req.client.Consent && !consented {
		if req.prompt == "none" {
			s.refuse(w, r, req, redirectError("consent_required", "the user has not approved this application"))
			return
		}
		s.consentPage(w, r, req, sess)
		return
	}
	code, err := s.issueCode(r, req, sess)
	if err != nil {
		s.unavailablePage(w, r, err)
		return
	}
	s.audit.Info("authorization code issued", "event", "code_issued", "client_id", req.client.ID, "user_id", sess.UserID)
	s.redirectTo(w, r, req, url.Values{"code": {code}})
}

// issueCode makes a code of 256 random bits and stores its hash.
func (s *Server) issueCode(r *http.Request, req *authzRequest, sess *loginSession) (string, error) {
	raw, err := randomBytes(32)
	if err != nil {
		return "", err
	}
	code := b64url.EncodeToString(raw)
	sum := sha256.Sum256([]byte(code))
	now := s.now()
	ctx, cancel := s.storeCtx(r)
	defer cancel()
	err = s.opts.Store.SaveCode(ctx, store.AuthCode{
		Hash: sum[:], ClientID: req.client.ID, RedirectURI: req.redirectURI, CodeChallenge: req.challenge,
		UserID: sess.UserID, UserName: sess.UserName, CredentialVersion: sess.Version, Scope: req.scope, AuthTime: now, ExpiresAt: now.Add(codeTTL),
	})
	if err != nil {
		return "", err
	}
	return code, nil
}

// handleAuthorizeForm serves POST /oauth2/authorize: the login and consent
// forms, which carry the original request in a hidden field.
func (s *Server) handleAuthorizeForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	req, e := s.parseAuthorize(r.PostForm.Get("authz_request"))
	if e != nil {
		s.refuse(w, r, req, e)
		return
	}
	if !s.checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "The form has expired. Go back to the application and sign in again.")
		return
	}
	switch r.PostForm.Get("action") {
	case "login":
		s.submitLogin(w, r, req)
	case "allow", "deny":
		sess, err := s.currentSession(r)
		if err != nil {
			s.unavailablePage(w, r, err)
			return
		}
		if sess == nil {
			s.loginPage(w, r, req, http.StatusOK, "", "Your session has ended. Sign in again.")
			return
		}
		if r.PostForm.Get("action") == "deny" {
			s.audit.Info("consent denied", "event", "consent_denied", "client_id", req.client.ID, "user_id", sess.UserID)
			s.refuse(w, r, req, redirectError("access_denied", "the user denied the request"))
			return
		}
		s.audit.Info("consent given", "event", "consent_given", "client_id", req.client.ID, "user_id", sess.UserID)
		s.authorized(w, r, req, sess, true)
	default:
		s.errorPage(w, r, http.StatusBadRequest, "The form is incomplete.")
	}
}

// submitLogin checks the login form with the password grant's login
// (argon2id, lockout, audit) and starts a session.
func (s *Server) submitLogin(w http.ResponseWriter, r *http.Request, req *authzRequest) {
	username, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
	if username == "" || pw == "" {
		s.loginPage(w, r, req, http.StatusBadRequest, username, "Enter your username and password.")
		return
	}
	user, err := s.login(r, req.client, username, pw)
	if err != nil {
		var oe *Error
		switch {
		case errors.As(err, &oe) && oe.Status == http.StatusTooManyRequests:
			w.Header().Set("Retry-After", retryAfterSeconds(oe.RetryAfter))
			s.loginPage(w, r, req, http.StatusTooManyRequests, username, "Too many failed attempts. Try again later.")
		case errors.As(err, &oe) && oe.Status < 500:
			s.loginPage(w, r, req, http.StatusUnauthorized, username, "Incorrect username or password.")
		default:
			s.unavailablePage(w, r, err)
		}
		return
	}
	sess, err := s.startSession(w, user)
	if err != nil {
		s.unavailablePage(w, r, err)
		return
	}
	s.audit.Info("login succeeded", "event", "login_succeeded", "user_id", user.ID, "client_id", req.client.ID, "via", "login_page")
	s.authorized(w, r, req, sess, false)
}
