package main

import (
	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/adminapi"
	"github.com/oauthkit/authserver/keys"
)

// mountAPIs puts the admin and account APIs on the server's main
// listener. They check tokens with the server's own keys, in process.
func mountAPIs(a *app, srv *authserver.Server, km *keys.Manager) error {
	api, err := adminapi.New(adminapi.Options{
		Issuer: a.cfg.Issuer,
		CheckToken: func(token []byte) ([]byte, error) {
			payload, _, err := km.Verify(token)
			return payload, err
		},
		Users:    srv.Users(),
		Keys:     km,
		Accounts: srv,
		Store:    a.store,
		Logger:   a.log,
	})
	if err != nil {
		return err
	}
	srv.Mount("/admin/v1/", api)
	srv.Mount("/account/v1/", api)
	return nil
}
