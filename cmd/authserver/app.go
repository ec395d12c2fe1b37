package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/oauthkit/authserver/authserver"
	"github.com/oauthkit/authserver/authserver/password"
	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/embedded"
	"github.com/oauthkit/authserver/authserver/store/redisstore"
	"github.com/oauthkit/authserver/config"
	"github.com/oauthkit/authserver/keys"
)

// app is what every command that touches the store needs: the effective
// configuration, the store, the key-encryption key and a logger.
type app struct {
	cfg   config.Config
	store store.Store
	kek   []byte
	// previous are keys.previous_encryption_keys: they open and verify,
	// never seal or issue.
	previous [][]byte
	log      *slog.Logger
}

// configEnv names the configuration file when --config is not given.
const configEnv = "AUTHSERVER_CONFIG"

// loadConfig reads the file of --config or AUTHSERVER_CONFIG (if any) and
// the environment; without a file it is the defaults and the environment,
// never development mode. dev forces the embedded store, as `serve --dev`
// promises.
func loadConfig(flags *rootFlags, dev bool) (config.Config, error) {
	environ := os.Environ()
	if dev {
		environ = append(environ, "AUTHSERVER_STORE_DRIVER=embedded")
	}
	return config.Load(configFile(flags), environ)
}

func configFile(flags *rootFlags) string {
	if flags.config != "" {
		return flags.config
	}
	return os.Getenv(configEnv)
}

// openApp loads the configuration and opens its store and key-encryption
// key. The caller closes a.store.
func openApp(flags *rootFlags, dev bool, logOut io.Writer) (*app, error) {
	cfg, err := loadConfig(flags, dev)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: newLogger(logOut, dev)}
	if err := a.open(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *app) open() error {
	switch a.cfg.Store.Driver {
	case "embedded":
		st, err := embedded.Open(a.cfg.Store.Embedded.Path)
		if err != nil {
			return fmt.Errorf("open embedded store: %w", err)
		}
		a.store = st
	case "redis":
		redisstore.SetLogger(a.log)
		r := a.cfg.Store.Redis
		ctx, cancel := context.WithTimeout(context.Background(), r.DialTimeout+r.ReadTimeout+time.Second)
		defer cancel()
		st, err := redisstore.Open(ctx, redisstore.Options{
			Addrs: r.Addrs, MasterName: r.MasterName, Username: r.Username, Password: r.Password,
			DB: r.DB, KeyPrefix: r.KeyPrefix, TLS: r.TLS,
			DialTimeout: r.DialTimeout, ReadTimeout: r.ReadTimeout, WriteTimeout: r.WriteTimeout, PoolSize: r.PoolSize,
			MinReplicas: r.MinReplicas, ReplicaTimeout: r.ReplicaTimeout,
		})
		if err != nil {
			return fmt.Errorf("open redis store: %w", err)
		}
		a.store = st
	default:
		return fmt.Errorf("store.driver %q is not supported", a.cfg.Store.Driver)
	}
	kek, err := a.encryptionKey()
	if err != nil {
		a.store.Close()
		return err
	}
	a.kek = kek
	if a.previous, err = a.cfg.Keys.DecodePreviousEncryptionKeys(); err != nil {
		a.store.Close()
		return err
	}
	return nil
}

// encryptionKey returns keys.encryption_key, or, for the embedded store
// only, a key generated into (and then read from) the data directory.
func (a *app) encryptionKey() ([]byte, error) {
	if a.cfg.Keys.EncryptionKey != "" {
		return config.DecodeEncryptionKey(a.cfg.Keys.EncryptionKey)
	}
	if a.cfg.Store.Driver != "embedded" {
		return nil, fmt.Errorf("keys.encryption_key is required with store.driver %s", a.cfg.Store.Driver)
	}
	path := filepath.Join(filepath.Dir(a.cfg.Store.Embedded.Path), "encryption.key")
	kek, created, err := keys.LoadOrCreateKEKFile(path)
	if err != nil {
		return nil, fmt.Errorf("load key-encryption key: %w", err)
	}
	if created {
		a.log.Warn("keys.encryption_key is not set: generated a key-encryption key into the data directory; set keys.encryption_key in production and keep it out of the data directory's backups", "path", path)
	}
	return kek, nil
}

func (a *app) hasher() (*password.Hasher, error) {
	p := a.cfg.Passwords
	n := p.MaxConcurrent
	if n <= 0 {
		n = max(1, runtime.NumCPU()/2)
	}
	return password.NewHasher(password.Params{Memory: p.Argon2.Memory, Iterations: p.Argon2.Iterations, Parallelism: p.Argon2.Parallelism}, n)
}

func (a *app) users() (*authserver.Users, error) {
	h, err := a.hasher()
	if err != nil {
		return nil, err
	}
	return authserver.NewUsers(a.store, h, nil), nil
}

// keyManager returns the key manager of the configured store. signer is
// keys.signer for a server; the CLI never signs and passes "" (Go), so
// that it works from any build.
func (a *app) keyManager(log *slog.Logger, signer string) (*keys.Manager, error) {
	sealer, err := keys.NewSealer(a.kek, a.previous...)
	if err != nil {
		return nil, err
	}
	k := a.cfg.Keys
	return keys.NewManager(a.store, sealer, keys.Options{
		Algorithm:    k.Algorithm,
		RSABits:      k.RSABits,
		PublishAhead: k.PublishAhead,
		RotateEvery:  k.RotateEvery,
		Signer:       signer,
		AccessTTL:    a.cfg.Tokens.AccessTTL,
		Logger:       log,
	}), nil
}

// loadKeys returns a key manager holding the stored key set, for the CLI:
// its audit lines say by=cli.
func (a *app) loadKeys(ctx context.Context) (*keys.Manager, error) {
	m, err := a.keyManager(a.log.With("by", "cli"), "")
	if err != nil {
		return nil, err
	}
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

func clientsFromConfig(cs []config.Client) []authserver.Client {
	out := make([]authserver.Client, len(cs))
	for i, c := range cs {
		out[i] = authserver.Client{ID: c.ID, Public: c.Public, SecretHash: c.SecretHash, SecretHashes: c.SecretHashes, Grants: c.Grants, Scopes: c.Scopes, Audience: c.Audience, Introspect: c.Introspect, TokenProfile: c.TokenProfile,
			RedirectURIs: c.RedirectURIs, AllowedOrigins: c.AllowedOrigins, Consent: c.Consent}
	}
	return out
}

func newLogger(w io.Writer, text bool) *slog.Logger {
	if text {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// kekIDs returns the ids of keys.encryption_key and of each previous key,
// in order.
func (a *app) kekIDs() []string {
	ids := []string{keys.KEKID(a.kek)}
	for _, p := range a.previous {
		ids = append(ids, keys.KEKID(p))
	}
	return ids
}

// refreshKeys derives the refresh-token MAC keys of the keyring: the
// current one, which issues, and one per previous key, which only verify.
func (a *app) refreshKeys() (current []byte, previous [][]byte, err error) {
	if current, err = authserver.DeriveRefreshKey(a.kek); err != nil {
		return nil, nil, err
	}
	for _, p := range a.previous {
		k, err := authserver.DeriveRefreshKey(p)
		if err != nil {
			return nil, nil, err
		}
		previous = append(previous, k)
	}
	return current, previous, nil
}
