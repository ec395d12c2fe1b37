package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/clientsecret"
	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/config"
)

// The demo client and user exist only in development mode (serve --dev).
const (
	demoClientID = "demo-app"
	demoUser     = "demo"
)

func withDemoClient(cs []config.Client) []config.Client {
	for _, c := range cs {
		if c.ID == demoClientID {
			return cs
		}
	}
	return append(cs, config.Client{
		ID: demoClientID, Public: true,
		Grants: []string{authserver.GrantPassword, authserver.GrantRefreshToken},
		Scopes: []string{"profile", "orders:read"},
	})
}

// seedDemo makes sure the demo user exists with the password kept in the
// data directory (0600), and prints the credentials and a curl command.
func seedDemo(ctx context.Context, a *app, users *authserver.Users, out io.Writer) error {
	pwFile := filepath.Join(filepath.Dir(a.cfg.Store.Embedded.Path), "demo-password")
	pw, err := os.ReadFile(pwFile)
	fresh := err != nil
	if fresh {
		secret, _, err := clientsecret.New()
		if err != nil {
			return err
		}
		pw = []byte(secret[:20])
		if err := os.WriteFile(pwFile, pw, 0o600); err != nil {
			return fmt.Errorf("write demo password: %w", err)
		}
	}
	_, err = users.Add(ctx, demoUser, string(pw), map[string]string{"name": "Demo User"})
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		if fresh {
			if _, err := users.SetPassword(ctx, demoUser, string(pw)); err != nil {
				return err
			}
		}
	case err != nil:
		return fmt.Errorf("seed demo user: %w", err)
	}
	base := strings.TrimSuffix(a.cfg.Issuer, "/")
	fmt.Fprintf(out, `
Development mode: embedded store at %s
  demo client: %s (public; grants password, refresh_token)
  demo user:   %s / %s

Get a token:
  curl -s %s/oauth2/token -d grant_type=password -d client_id=%s -d username=%s -d password=%s

Public keys: %s/.well-known/jwks.json

`, a.cfg.Store.Embedded.Path, demoClientID, demoUser, pw, base, demoClientID, demoUser, pw, base)
	return nil
}
