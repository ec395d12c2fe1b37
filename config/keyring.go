package config

import (
	"fmt"
	"os"
	"strings"
)

const (
	previousKeysKey     = "keys.previous_encryption_keys"
	previousKeysFileKey = "keys.previous_encryption_keys_file"
)

// readPreviousKeysFile reads keys.previous_encryption_keys_file, one key
// per line (blank lines and surrounding spaces ignored), into
// keys.previous_encryption_keys. Setting both is a problem naming both.
// An empty file is allowed: it is where a rotation ends.
func readPreviousKeysFile(c *Config) []Problem {
	path := c.Keys.PreviousEncryptionKeysFile
	if path == "" {
		return nil
	}
	if len(c.Keys.PreviousEncryptionKeys) > 0 {
		return []Problem{{Key: previousKeysKey, Message: fmt.Sprintf("set both %s and %s (%s): set only one", previousKeysKey, previousKeysFileKey, envName(previousKeysFileKey))}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		// The error names the path, never the content.
		return []Problem{{Key: previousKeysFileKey, Message: fmt.Sprintf("read %s: %v", previousKeysKey, err)}}
	}
	keys := []string{}
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" {
			keys = append(keys, line)
		}
	}
	c.Keys.PreviousEncryptionKeys = keys
	return nil
}

// previousKeysSource says where keys.previous_encryption_keys came from,
// and how many there are, without their values.
func (c Config) previousKeysSource(environ []string) SecretSource {
	src := SecretSource{Key: previousKeysKey}
	n := len(c.Keys.PreviousEncryptionKeys)
	switch {
	case c.Keys.PreviousEncryptionKeysFile != "":
		via := previousKeysFileKey
		if envSet(environ, envName(previousKeysFileKey)) {
			via = envName(previousKeysFileKey)
		}
		src.From = fmt.Sprintf("file %s (%s), %d key(s)", c.Keys.PreviousEncryptionKeysFile, via, n)
	case n == 0:
		src.From = "not set"
	case envSet(environ, envName(previousKeysKey)):
		src.From = fmt.Sprintf("environment %s, %d key(s)", envName(previousKeysKey), n)
	default:
		src.From = fmt.Sprintf("config file, %d key(s)", n)
	}
	return src
}

// DecodePreviousEncryptionKeys decodes keys.previous_encryption_keys as
// DecodeEncryptionKey does each. Its errors never contain a key.
func (k Keys) DecodePreviousEncryptionKeys() ([][]byte, error) {
	out := make([][]byte, 0, len(k.PreviousEncryptionKeys))
	for i, s := range k.PreviousEncryptionKeys {
		key, err := DecodeEncryptionKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", previousKeysKey, i, err)
		}
		out = append(out, key)
	}
	return out, nil
}
