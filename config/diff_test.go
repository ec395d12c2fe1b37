package config

import (
	"slices"
	"strings"
	"testing"
)

// TestSecretHashesFile loads a client with two live secrets from a file:
// both are kept, listed by SecretHashList, redacted, and a change to them
// is a change of "clients" alone.
func TestSecretHashesFile(t *testing.T) {
	file := writeFile(t, `clients:
  - id: billing-worker
    secret_hash: `+testSecretHash+`
    secret_hashes: [`+testSecretHash2+`]
    grants: [client_credentials]
`)
	cfg, err := Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := cfg.Clients[0]
	if got, want := cl.SecretHashList(), []string{testSecretHash, testSecretHash2}; !slices.Equal(got, want) {
		t.Errorf("SecretHashList = %v, want %v", got, want)
	}
	var out strings.Builder
	if err := cfg.Redacted().WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), testSecretHash2) || !strings.Contains(out.String(), "secret_hashes: [REDACTED]") {
		t.Errorf("redacted output:\n%s", out.String())
	}
	if cfg.Clients[0].SecretHashes[0] != testSecretHash2 {
		t.Error("Redacted changed the original")
	}

	changed := cfg
	changed.Clients = []Client{cl}
	changed.Clients[0].SecretHashes = nil
	changed.Tokens.AccessTTL *= 2
	if got, want := ChangedKeys(cfg, changed), []string{"tokens.access_ttl", "clients"}; !slices.Equal(got, want) {
		t.Errorf("ChangedKeys = %v, want %v", got, want)
	}
	if got := ChangedKeys(cfg, cfg); len(got) != 0 {
		t.Errorf("ChangedKeys of a config with itself = %v", got)
	}
}
