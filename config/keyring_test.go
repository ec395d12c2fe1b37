package config

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

// TestPreviousEncryptionKeys loads the keyring's previous keys from each
// source; config check's sources and the redacted output never hold them.
func TestPreviousEncryptionKeys(t *testing.T) {
	k2 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	k3 := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
	file := secretPath(t, "\n"+k2+"\n  "+k3+"  \n\n")
	tests := []struct {
		name    string
		file    string
		environ []string
		source  string
	}{
		{"file-key", "keys:\n  previous_encryption_keys_file: " + file + "\n", nil, "file " + file + " (keys.previous_encryption_keys_file), 2 key(s)"},
		{"env-file", "", []string{"AUTHSERVER_KEYS_PREVIOUS_ENCRYPTION_KEYS_FILE=" + file}, "file " + file + " (AUTHSERVER_KEYS_PREVIOUS_ENCRYPTION_KEYS_FILE), 2 key(s)"},
		{"env-list", "", []string{"AUTHSERVER_KEYS_PREVIOUS_ENCRYPTION_KEYS=" + k2 + "," + k3}, "environment AUTHSERVER_KEYS_PREVIOUS_ENCRYPTION_KEYS, 2 key(s)"},
		{"config-file", "keys:\n  previous_encryption_keys: [" + k2 + ", " + k3 + "]\n", nil, "config file, 2 key(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			cfg, err := Load(path, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Keys.PreviousEncryptionKeys; !slices.Equal(got, []string{k2, k3}) {
				t.Errorf("previous keys = %q", got)
			}
			keys, err := cfg.Keys.DecodePreviousEncryptionKeys()
			if err != nil || len(keys) != 2 || keys[1][0] != 3 {
				t.Errorf("decoded %v, %v", keys, err)
			}
			src := cfg.SecretSources(tt.environ)
			if got := src[len(src)-1]; got.Key != "keys.previous_encryption_keys" || got.From != tt.source {
				t.Errorf("source = %q, want %q", got, tt.source)
			}
			var out strings.Builder
			cfg.Redacted().WriteYAML(&out)
			if strings.Contains(out.String(), k2) || strings.Contains(out.String(), k3) {
				t.Errorf("redacted output holds a key:\n%s", out.String())
			}
		})
	}

	_, err := Load("", []string{"AUTHSERVER_KEYS_PREVIOUS_ENCRYPTION_KEYS=" + k2 + ",bm90IGEga2V5"})
	if keys := problemKeys(t, err); !slices.Equal(keys, []string{"keys.previous_encryption_keys[1]"}) {
		t.Errorf("a bad previous key: problems %q", keys)
	}
	_, err = Load("", []string{"AUTHSERVER_KEYS_PREVIOUS_ENCRYPTION_KEYS=" + k2, "AUTHSERVER_KEYS_PREVIOUS_ENCRYPTION_KEYS_FILE=" + file})
	if keys := problemKeys(t, err); !slices.Equal(keys, []string{"keys.previous_encryption_keys"}) || strings.Contains(err.Error(), k2) {
		t.Errorf("both list and file: %v", err)
	}
	empty := secretPath(t, "")
	cfg, err := Load("", []string{"AUTHSERVER_KEYS_PREVIOUS_ENCRYPTION_KEYS_FILE=" + empty})
	if err != nil || len(cfg.Keys.PreviousEncryptionKeys) != 0 {
		t.Errorf("an empty file (the end of a rotation): %v, %q", err, cfg.Keys.PreviousEncryptionKeys)
	}
}
