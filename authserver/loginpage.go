package authserver

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	template "github.com/DataDog/datadog-agent/pkg/template/html"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LoginOptions configure the login page of the authorization code flow.
type LoginOptions struct {
	// SessionTTL is how long a signed-in browser skips the form (default
	// 12h).
	SessionTTL time.Duration
	// TemplatesDir holds the operator's own layout.html, login.html,
	// consent.html, error.html, logout.html and login.css; a file missing
	// there keeps the built-in one.
	TemplatesDir string
	// ProductName is shown on every page (default "authserver").
	ProductName string
}

//go:embed templates
var builtinTemplates embed.FS

var pageNames = []string{"layout.html", "login.html", "consent.html", "error.html", "logout.html"}

// pages are the parsed templates and the stylesheet.
type pages struct {
	tmpl map[string]*template.Template
	css  []byte
}

// loadPages parses the built-in templates, each replaced by the file of
// the same name in dir when there is one.
func loadPages(dir string) (*pages, error) {
	read := func(name string) ([]byte, error) {
		if dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err == nil {
				return b, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("read login template: %w", err)
			}
		}
		return builtinTemplates.ReadFile("templates/" + name)
	}
	layout, err := read("layout.html")
	if err != nil {
		return nil, err
	}
	p := &pages{tmpl: map[string]*template.Template{}}
	for _, name := range pageNames[1:] {
		body, err := read(name)
		if err != nil {
			return nil, err
		}
		t, err := template.New(name).Parse(string(layout))
		if err == nil {
			_, err = t.Parse(string(body))
		}
		if err != nil {
			return nil, fmt.Errorf("parse login template %s: %w", name, err)
		}
		p.tmpl[name] = t
	}
	if p.css, err = read("login.css"); err != nil {
		return nil, err
	}
	return p, nil
}

// pageData is what every template sees.
type pageData struct {
	Product, Title, Base, Error, Message string
	Request, CSRF, ClientID, Username    string
	RedirectURI                          string
	Scopes                               []string
	Everywhere, Done                     bool
}

// pageHeaders forbid framing (clickjacking of the login form), sniffing,
// caching and leaking the authorization request in a Referer. No
// form-action: browsers apply it to the redirect that follows a form post,
// which goes to the client's redirect URI.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

func (s *Server) render(w http.ResponseWriter, status int, name string, d pageData) {
	d.Product, d.Base = s.opts.Login.ProductName, s.basePath
	var buf bytes.Buffer
	if err := s.pages.tmpl[name].Execute(&buf, d); err != nil {
		s.log.Error("render login page", "page", name, "error", err)
		status, buf = http.StatusInternalServerError, *bytes.NewBufferString("internal error\n")
	}
	pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, req *authzRequest, status int, username, msg string) {
	csrf, err := s.csrfToken(w, r)
	if err != nil {
		s.unavailablePage(w, r, err)
		return
	}
	s.render(w, status, "login.html", pageData{
		Title: "Sign in", Error: msg, Request: req.raw, CSRF: csrf, ClientID: req.client.ID, Username: username,
	})
}

func (s *Server) consentPage(w http.ResponseWriter, r *http.Request, req *authzRequest, sess *loginSession) {
	csrf, err := s.csrfToken(w, r)
	if err != nil {
		s.unavailablePage(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "consent.html", pageData{
		Title: "Allow access", Request: req.raw, CSRF: csrf, ClientID: req.client.ID, Username: sess.UserName, Scopes: req.scope,
	})
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, status, "error.html", pageData{Title: "Something went wrong", Message: msg})
}

// unavailablePage answers a failure of the store or of randomness: the
// cause goes to the log, the browser gets a page asking to retry.
func (s *Server) unavailablePage(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("login page failed", "path", r.URL.Path, "error", err)
	w.Header().Set("Retry-After", "1")
	s.errorPage(w, r, http.StatusServiceUnavailable, "The service is temporarily unavailable. Try again in a moment.")
}

func (s *Server) handleStylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(s.pages.css)
}

// handleLogoutPage serves GET /oauth2/logout: a confirmation form, so
// that no cross-site link can sign a user out.
func (s *Server) handleLogoutPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sess, err := s.currentSession(r)
	if err != nil {
		s.unavailablePage(w, r, err)
		return
	}
	csrf, err := s.csrfToken(w, r)
	if err != nil {
		s.unavailablePage(w, r, err)
		return
	}
	d := pageData{Title: "Sign out", CSRF: csrf, ClientID: q.Get("client_id"), RedirectURI: q.Get("post_logout_redirect_uri"),
		Everywhere: q.Get("logout_hint") == "everywhere", Done: sess == nil}
	if sess != nil {
		d.Username = sess.UserName
	}
	s.render(w, http.StatusOK, "logout.html", d)
}

// handleLogout serves POST /oauth2/logout: ends the session and, with
// logout_hint=everywhere, every refresh family of its user; then returns
// to the client's post_logout_redirect_uri when it is one of its
// registered redirect URIs.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil || !s.checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "The form has expired. Reload the page and try again.")
		return
	}
	sess, err := s.currentSession(r)
	if err != nil {
		s.unavailablePage(w, r, err)
		return
	}
	if sess != nil {
		if err := s.endSession(w, r, sess); err != nil {
			s.unavailablePage(w, r, err)
			return
		}
		n := 0
		if r.PostForm.Get("logout_hint") == "everywhere" {
			ctx, cancel := s.storeCtx(r)
			n, err = s.opts.Store.RevokeUserFamilies(ctx, sess.UserID)
			cancel()
			if err != nil {
				s.unavailablePage(w, r, err)
				return
			}
		}
		s.audit.Info("logout", "event", "logout", "user_id", sess.UserID, "families_revoked", n)
	}
	if rc, ok := s.clients.lookup(r.PostForm.Get("client_id")); ok {
		if u := r.PostForm.Get("post_logout_redirect_uri"); u != "" && matchRedirect(rc.RedirectURIs, u) {
			if _, err := url.Parse(u); err == nil {
				noStore(w)
				http.Redirect(w, r, u, http.StatusSeeOther)
				return
			}
		}
	}
	s.render(w, http.StatusOK, "logout.html", pageData{Title: "Sign out", Done: true})
}

// basePathOf is the path of the issuer URL, under which the pages link
// their form targets and stylesheet.
func basePathOf(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}
