package authserver_test

import (
	"strings"
	"testing"

	"github.com/oauthkit/authserver/authserver"
)

// TestNewRefusesPublicClientCredentials: a library user who skips config
// validation still cannot register a public client that may mint service
// tokens with its id alone.
func TestNewRefusesPublicClientCredentials(t *testing.T) {
	var opts authserver.Options
	newEnv(t, func(o *authserver.Options) { opts = *o })
	opts.Clients = []authserver.Client{{ID: "open", Public: true, Grants: []string{"password", "client_credentials"}}}
	_, err := authserver.New(opts)
	if err == nil || !strings.Contains(err.Error(), "client_credentials") {
		t.Fatalf("New = %v, want an error naming client_credentials", err)
	}
	opts.Clients = []authserver.Client{{ID: "open", Public: true, Grants: []string{"password"}, Introspect: true}}
	if _, err := authserver.New(opts); err == nil || !strings.Contains(err.Error(), "introspect") {
		t.Fatalf("New = %v, want an error naming introspect", err)
	}
}
