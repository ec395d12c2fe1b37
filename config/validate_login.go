package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

func (v *validator) login(l Login) {
	v.positive("login.session_ttl", l.SessionTTL)
	if strings.TrimSpace(l.ProductName) == "" {
		v.add("login.product_name", "must not be empty")
	}
	if l.TemplatesDir != "" {
		if fi, err := os.Stat(l.TemplatesDir); err != nil || !fi.IsDir() {
			v.add("login.templates_dir", "%q is not a readable directory", l.TemplatesDir)
		}
	}
}

// redirectURIs checks clients[].redirect_uris: the authorization code
// grant needs at least one, and each must be absolute, without fragment
// or user information, and use http only on a loopback host (RFC 8252).
func (v *validator) redirectURIs(name string, cl Client) {
	if cl.Allows(GrantAuthorizationCode) && len(cl.RedirectURIs) == 0 {
		v.add(name+".redirect_uris", "must list at least one URI for the authorization_code grant")
	}
	if !cl.Allows(GrantAuthorizationCode) && cl.Consent {
		v.add(name+".consent", "applies only to clients with the authorization_code grant")
	}
	for i, raw := range cl.RedirectURIs {
		key := fmt.Sprintf("%s.redirect_uris[%d]", name, i)
		u, err := url.Parse(raw)
		switch {
		case err != nil || u.Scheme == "" || u.Opaque != "":
			v.add(key, "%q is not an absolute URI", raw)
		case strings.Contains(raw, "#"):
			v.add(key, "%q must not have a fragment", raw)
		case u.User != nil:
			v.add(key, "%q must not have user information", raw)
		case u.Scheme == "http" && !loopbackHost(u.Hostname()):
			v.add(key, "%q uses http on a host that is not a loopback address; use https", raw)
		}
	}
}

func loopbackHost(h string) bool { return h == "127.0.0.1" || h == "::1" || h == "localhost" }

// originProblem says what is wrong with a CORS origin, or "".
func originProblem(o string) string {
	u, err := url.Parse(o)
	switch {
	case o == "*" || o == "null":
		return "is not allowed: list each origin"
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return "is not an origin: want scheme://host[:port]"
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(o, "/"):
		return "is not an origin: want scheme://host[:port] without path or trailing slash"
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return "uses http on a host that is not a loopback address; use https"
	}
	return ""
}
