// Package redisstore is the store.Store backend on Redis (7.0 or later),
// through go-redis' UniversalClient: one address gives a plain client,
// a master name gives Sentinel, several addresses give Cluster.
//
// Every state change is one Redis command, one Lua script or one pipeline,
// so it is one round trip and, where it touches one Cluster slot, atomic.
// Redeem is a single script on the family's two keys, which share a slot,
// so that of any number of concurrent redemptions of a token exactly one
// rotates the family, on any number of servers.
//
// Expiry decisions are taken on the now a caller passes, never on the
// Redis clock (but for the end of a family's reuse grace, see Redeem), and
// every key that can die carries a native expiry (the family's idle or
// absolute deadline, the end of its reuse grace, the end of a lockout
// window, the end of a token's denial), so nothing grows without bound and
// no cleanup job is needed. Each Store reads the grace records it wrote
// once they have expired, so that Redis frees them at once (reaper.go).
// Times are kept to the millisecond.
//
// A family is kept small, for memory is what a Redis deployment is sized
// by: a compact record that lives as long as the family, and a second one,
// with what only retries within the reuse grace need (the previous token's
// hash and the sealed successor), that lives only as long as the grace.
// See record.go and familykeys.go, and docs/redis.md for the measurements.
//
// Redis Cluster: the keys of one family, and every key of one user, share
// a slot, so each script touches one slot. A user's family index lives in
// another slot than the families it lists; see docs/redis.md for how it
// stays correct without cross-slot transactions.
package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/oauthkit/authserver/authserver/store"
)

var _ store.Store = (*Store)(nil)

// Defaults of Options.
const (
	DefaultKeyPrefix    = "authserver:"
	DefaultDialTimeout  = 2 * time.Second
	DefaultReadTimeout  = time.Second
	DefaultWriteTimeout = time.Second
)

// Options configure Open. They mirror the store.redis section of the
// configuration.
type Options struct {
	// Addrs: one address for a plain server; several for Cluster; the
	// Sentinels' addresses when MasterName is set.
	Addrs []string
	// MasterName selects Sentinel: the name of the monitored master.
	MasterName string
	// Username and Password authenticate (Redis ACL; Username may be
	// empty). With Sentinel they are the data nodes' credentials.
	Username string
	Password string
	// DB selects the database (0 with Cluster).
	DB int
	// KeyPrefix starts every key; default DefaultKeyPrefix. It must not
	// contain '{' or '}', which would change the Cluster hash slots.
	KeyPrefix string
	// TLS connects with TLS 1.2 or later, verifying the server's
	// certificate against the system roots.
	TLS bool
	// DialTimeout, ReadTimeout and WriteTimeout bound each connection
	// attempt, reply and request; defaults DefaultDialTimeout,
	// DefaultReadTimeout and DefaultWriteTimeout.
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// PoolSize is the number of connections per node; 0 keeps the go-redis
	// default (10 per GOMAXPROCS).
	PoolSize int
	// MinReplicas, above 0, makes every acknowledged write wait with WAIT
	// until that many replicas have it, and fail with
	// store.ErrUnavailable if they do not within ReplicaTimeout (default
	// DefaultReplicaTimeout). See replicated.go.
	MinReplicas    int
	ReplicaTimeout time.Duration
}

// Store is a store.Store on Redis. It is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	prefix string
	reaper *reaper // frees expired grace records

	minReplicas    int // see replicated
	replicaTimeout time.Duration
}

// Open connects to Redis as opts say and pings it, waiting at most
// opts.DialTimeout (or until ctx ends). An unreachable server fails with
// store.ErrUnavailable.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if len(opts.Addrs) == 0 {
		return nil, errors.New("open redis store: no address")
	}
	prefix := opts.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("open redis store: key prefix %q contains { or }", prefix)
	}
	uo := universalOptions(opts)
	client := redis.NewUniversalClient(uo)
	pingCtx, cancel := context.WithTimeout(ctx, uo.DialTimeout)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("open redis store: ping %s: %w: %w", strings.Join(opts.Addrs, ","), store.ErrUnavailable, err)
	}
	return &Store{
		client: client, prefix: prefix, reaper: newReaper(client, time.Now),
		minReplicas: opts.MinReplicas, replicaTimeout: orDefault(opts.ReplicaTimeout, DefaultReplicaTimeout),
	}, nil
}

// universalOptions translates opts, with their defaults, for go-redis.
//
// Retries are off where go-redis allows it: a command whose reply was lost
// may have run, and replaying a rotation at grace 0 would revoke the
// family. The caller sees store.ErrUnavailable (HTTP 503) and the client
// retries, which within the reuse grace is answered from the family's
// sealed successor. Cluster still follows MOVED and ASK redirects (and
// retries a failed node up to three times); see docs/redis.md.
func universalOptions(opts Options) *redis.UniversalOptions {
	uo := &redis.UniversalOptions{
		ClientName:   "authserver", // in CLIENT LIST
		Addrs:        opts.Addrs,
		MasterName:   opts.MasterName,
		Username:     opts.Username,
		Password:     opts.Password,
		DB:           opts.DB,
		DialTimeout:  orDefault(opts.DialTimeout, DefaultDialTimeout),
		ReadTimeout:  orDefault(opts.ReadTimeout, DefaultReadTimeout),
		WriteTimeout: orDefault(opts.WriteTimeout, DefaultWriteTimeout),
		PoolSize:     opts.PoolSize,
		// Our pipelines are a few small commands: run them on the main
		// pool rather than on a second one of 128 KiB-buffered connections.
		PipelinePoolSize: -1,
		// Honour the caller's deadline as well as the timeouts above.
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		// One dial attempt per connection, so that a dial blocks at most
		// DialTimeout (go-redis would try five times).
		DialerRetries: 1,
		// Maintenance notifications are a Redis Enterprise feature;
		// plain servers refuse the handshake.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if opts.TLS {
		uo.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return uo
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping redis", s.client.Ping(ctx).Err())
}

// Close stops the reaper of grace records and closes the connections.
func (s *Store) Close() error {
	s.reaper.close()
	return s.client.Close()
}

// Keys. The keys of one family share a Cluster slot (see familyKeys), and
// every key of one user carries the user name or id as its hash tag.
// docs/redis.md lists them all.
// userIDKey is also the user's family index (users.go), and
// userVersionKey, in its slot, the credential version of the id.
func (s *Store) userKey(name string) string      { return s.prefix + "u:{" + name + "}" }
func (s *Store) userIDKey(id string) string      { return s.prefix + "uid:{" + id + "}" }
func (s *Store) userVersionKey(id string) string { return s.prefix + "uv:{" + id + "}" }
func (s *Store) usersKey() string                { return s.prefix + "users" }
func (s *Store) keySetKey() string               { return s.prefix + "keyset" }
func (s *Store) lockoutKey(key string) string    { return s.prefix + "lo:" + key }
func (s *Store) revokedKey(jti string) string    { return s.prefix + "rt:" + jti }

// wrap prefixes err with op and marks the errors of an unreachable or
// unwilling backend as store.ErrUnavailable. It returns nil for nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable reports whether err means that Redis cannot serve now, as
// opposed to a refusal that a retry would meet again (a bad script, bad
// credentials, a wrong type). Everything that is not a Redis reply is a
// network failure, a timeout, a closed client or an ended context.
func unavailable(err error) bool {
	if errors.Is(err, redis.Nil) {
		return false
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return true
	}
	return redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsClusterDownError(err) ||
		redis.IsTryAgainError(err) || redis.IsMasterDownError(err) || redis.IsMaxClientsError(err) ||
		redis.IsOOMError(err) || redis.IsNoReplicasError(err) || redis.HasErrorPrefix(err, "BUSY") ||
		// A Cluster node's own client (replicated.go) does not follow a
		// slot that moved.
		redis.HasErrorPrefix(err, "MOVED") || redis.HasErrorPrefix(err, "ASK")
}

// millis and fromMillis convert times to and from the stored Unix
// milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// SetLogger sends go-redis's own messages (failed dials, Sentinel
// failovers) to log, at warn level, instead of the standard logger, so
// that they come out in the server's format. It affects every client of
// the process.
func SetLogger(log *slog.Logger) { redis.SetLogger(goRedisLogger{log}) }

type goRedisLogger struct{ log *slog.Logger }

// Printf implements go-redis's logging interface.
func (l goRedisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
