package config

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
)

// secretFile pairs a secret key with the key naming a file that holds it.
type secretFile struct {
	key, fileKey string
	value, file  func(*Config) *string
}

var secretFiles = []secretFile{
	{
		key: "keys.encryption_key", fileKey: "keys.encryption_key_file",
		value: func(c *Config) *string { return &c.Keys.EncryptionKey },
		file:  func(c *Config) *string { return &c.Keys.EncryptionKeyFile },
	},
	{
		key: "store.redis.password", fileKey: "store.redis.password_file",
		value: func(c *Config) *string { return &c.Store.Redis.Password },
		file:  func(c *Config) *string { return &c.Store.Redis.PasswordFile },
	},
}

// readSecretFiles reads every secret whose file key is set into the
// secret's own key, once. One trailing newline (what `echo` and most
// editors leave) is dropped. Setting both keys is a problem naming both.
func readSecretFiles(c *Config) []Problem {
	var problems []Problem
	for _, s := range secretFiles {
		path := *s.file(c)
		if path == "" {
			continue
		}
		if *s.value(c) != "" {
			problems = append(problems, Problem{Key: s.key, Message: fmt.Sprintf("set both %s and %s (%s): set only one", s.key, s.fileKey, envName(s.fileKey))})
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			// The error names the path, never the content.
			problems = append(problems, Problem{Key: s.fileKey, Message: fmt.Sprintf("read %s: %v", s.key, err)})
			continue
		}
		data = bytes.TrimSuffix(data, []byte("\n"))
		data = bytes.TrimSuffix(data, []byte("\r"))
		if len(data) == 0 {
			problems = append(problems, Problem{Key: s.fileKey, Message: fmt.Sprintf("%s is empty", path)})
			continue
		}
		*s.value(c) = string(data)
	}
	return problems
}

// SecretSource says where a secret of a loaded configuration came from,
// without its value.
type SecretSource struct {
	// Key is the secret's key, such as "keys.encryption_key".
	Key string
	// From is "not set", "file PATH (KEY_FILE)", "environment NAME" or
	// "config file".
	From string
}

// SecretSources reports where each secret of c came from; environ is the
// environment c was loaded with. It never includes a secret's value.
func (c Config) SecretSources(environ []string) []SecretSource {
	out := make([]SecretSource, 0, len(secretFiles))
	for _, s := range secretFiles {
		src := SecretSource{Key: s.key}
		switch {
		case *s.file(&c) != "":
			via := s.fileKey
			if envSet(environ, envName(s.fileKey)) {
				via = envName(s.fileKey)
			}
			src.From = fmt.Sprintf("file %s (%s)", *s.file(&c), via)
		case *s.value(&c) == "":
			src.From = "not set"
		case envSet(environ, envName(s.key)):
			src.From = "environment " + envName(s.key)
		default:
			src.From = "config file"
		}
		out = append(out, src)
	}
	return append(out, c.previousKeysSource(environ))
}

func envSet(environ []string, name string) bool {
	return slices.ContainsFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
}

// KeyNames returns every configuration key that holds a value, as dotted
// paths in declaration order ("http.addr", "store.redis.password_file"),
// derived from the Config structs. Clients are not among them: they are
// set only in the file.
func KeyNames() []string {
	fs := leaves(configType, "", nil)
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.key
	}
	return out
}

// EnvName returns the environment variable that sets key:
// EnvName("tokens.access_ttl") is "AUTHSERVER_TOKENS_ACCESS_TTL".
func EnvName(key string) string { return envName(key) }
