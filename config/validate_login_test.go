package config

import (
	"slices"
	"strings"
	"testing"
)

func TestValidateCodeFlow(t *testing.T) {
	spa := func(c *Config, f func(*Client)) {
		cl := Client{ID: "web-spa", Public: true, Grants: []string{GrantAuthorizationCode, GrantRefreshToken},
			RedirectURIs: []string{"https://app.example.com/callback"}, AllowedOrigins: []string{"https://app.example.com"}}
		if f != nil {
			f(&cl)
		}
		c.Clients = append(c.Clients, cl)
	}
	const key = "clients[2] (web-spa)."
	tests := []struct {
		name     string
		mutate   func(*Config)
		wantKeys []string
		wantMsg  string
	}{
		{"valid", func(c *Config) { spa(c, nil) }, nil, ""},
		{"valid-native", func(c *Config) {
			spa(c, func(cl *Client) {
				cl.RedirectURIs = []string{"http://127.0.0.1/cb", "http://[::1]/cb", "http://localhost:3000/cb", "com.example.app:/oauth2redirect"}
			})
		}, nil, ""},
		{"no-redirect-uris", func(c *Config) { spa(c, func(cl *Client) { cl.RedirectURIs = nil }) }, []string{key + "redirect_uris"}, "at least one"},
		{"relative-redirect", func(c *Config) { spa(c, func(cl *Client) { cl.RedirectURIs = []string{"/callback"} }) }, []string{key + "redirect_uris[0]"}, "absolute"},
		{"fragment", func(c *Config) { spa(c, func(cl *Client) { cl.RedirectURIs = []string{"https://a.example/cb#x"} }) }, []string{key + "redirect_uris[0]"}, "fragment"},
		{"http-remote", func(c *Config) { spa(c, func(cl *Client) { cl.RedirectURIs = []string{"http://app.example.com/cb"} }) }, []string{key + "redirect_uris[0]"}, "https"},
		{"user-info", func(c *Config) { spa(c, func(cl *Client) { cl.RedirectURIs = []string{"https://u:p@a.example/cb"} }) }, []string{key + "redirect_uris[0]"}, "user information"},
		{"origin-with-path", func(c *Config) { spa(c, func(cl *Client) { cl.AllowedOrigins = []string{"https://app.example.com/"} }) }, []string{key + "allowed_origins[0]"}, "trailing slash"},
		{"origin-star", func(c *Config) { spa(c, func(cl *Client) { cl.AllowedOrigins = []string{"*"} }) }, []string{key + "allowed_origins[0]"}, "list each origin"},
		{"origin-no-scheme", func(c *Config) { spa(c, func(cl *Client) { cl.AllowedOrigins = []string{"app.example.com"} }) }, []string{key + "allowed_origins[0]"}, "scheme://host"},
		{"origin-http-remote", func(c *Config) { spa(c, func(cl *Client) { cl.AllowedOrigins = []string{"http://app.example.com"} }) }, []string{key + "allowed_origins[0]"}, "https"},
		{"consent-without-code-grant", func(c *Config) { c.Clients[0].Consent = true }, []string{"clients[0] (mobile-app).consent"}, "authorization_code"},
		{"session-ttl-zero", func(c *Config) { c.Login.SessionTTL = 0 }, []string{"login.session_ttl"}, "greater than 0"},
		{"product-name-empty", func(c *Config) { c.Login.ProductName = " " }, []string{"login.product_name"}, "empty"},
		{"templates-dir-missing", func(c *Config) { c.Login.TemplatesDir = "/nonexistent/templates" }, []string{"login.templates_dir"}, "directory"},
		{"templates-dir", func(c *Config) { c.Login.TemplatesDir = t.TempDir() }, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantKeys == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if keys := problemKeys(t, err); !slices.Equal(keys, tc.wantKeys) {
				t.Fatalf("problem keys %q, want %q (%v)", keys, tc.wantKeys, err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error %q does not say %q", err, tc.wantMsg)
			}
		})
	}
}
