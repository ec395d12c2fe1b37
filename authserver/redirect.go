package authserver

import (
	"errors"
	"net/url"
	"strings"
)

// checkRedirectURI refuses a redirect URI that cannot be registered: it
// must be absolute and without a fragment (RFC 6749 §3.1.2), and plain
// http only on a loopback address (RFC 8252 §7.3; https everywhere else,
// and any custom scheme of a native app, RFC 8252 §7.1).
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme == "" || u.Opaque != "":
		return errors.New("redirect URI " + raw + " is not an absolute URI")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("redirect URI " + raw + " has a fragment")
	case u.User != nil:
		return errors.New("redirect URI " + raw + " has user information")
	case u.Scheme == "http" && !isLoopback(u.Hostname()) && u.Hostname() != "localhost":
		return errors.New("redirect URI " + raw + " uses http on a host other than a loopback address")
	}
	return nil
}

// isLoopback reports whether host is a loopback literal whose redirects
// may use any port (RFC 8252 §7.3). localhost is not one of them: a name
// can resolve elsewhere (RFC 8252 §8.3).
func isLoopback(host string) bool { return host == "127.0.0.1" || host == "::1" }

// matchRedirect reports whether got is one of registered: compared as
// strings, except that the port of an http loopback redirect may differ,
// since a native app listens on whatever port the OS gives it.
func matchRedirect(registered []string, got string) bool {
	for _, r := range registered {
		if r == got {
			return true
		}
	}
	g, err := url.Parse(got)
	if err != nil || g.Scheme != "http" || !isLoopback(g.Hostname()) || g.User != nil || strings.Contains(got, "#") {
		return false
	}
	want := withoutPort(g)
	for _, r := range registered {
		ru, err := url.Parse(r)
		if err == nil && ru.Scheme == "http" && isLoopback(ru.Hostname()) && withoutPort(ru) == want {
			return true
		}
	}
	return false
}

// withoutPort returns u as a string with its port removed.
func withoutPort(u *url.URL) string {
	c := *u
	c.Host = c.Hostname()
	if strings.Contains(c.Host, ":") {
		c.Host = "[" + c.Host + "]"
	}
	return c.String()
}
