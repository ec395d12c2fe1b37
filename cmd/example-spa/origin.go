package main

import "net/url"

// origin returns the scheme://host[:port] of raw, for the page's CSP.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
