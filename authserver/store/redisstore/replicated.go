package redisstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/authserver/authserver/store"
)

// DefaultReplicaTimeout is Options.ReplicaTimeout's default.
const DefaultReplicaTimeout = 100 * time.Millisecond

// writer is what a write needs of a connection: the commands, the
// scripts (EVALSHA with its fallback) and Do.
type writer interface {
	redis.Cmdable
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// replicated runs write, one write that a client will be told about, and
// with Options.MinReplicas above 0 then waits with WAIT until that many
// replicas have it. Every acknowledged write goes through it (lockout
// counters excepted: losing a failure count in a failover costs nothing
// that matters).
//
// WAIT counts the replicas that have every write of its own connection, so
// write runs on a connection of its own, taken from the pool of the master
// that owns key's slot (with Cluster, the node of that slot: every key
// write touches must be in it), and WAIT follows on that connection. Which
// failovers keep what WAIT counted depends on MinReplicas: only as many as
// there are replicas keeps a failover that promotes while the old master
// still runs from losing it (docs/redis.md). Too few replicas within
// Options.ReplicaTimeout is
// store.ErrUnavailable: the write may stay on the master, or be lost in a
// failover, and the client, told 503, retries; a rotation retried within
// the reuse grace gets the same answer (docs/redis.md).
//
// WAITAOF (Redis 7.2) would also wait for the fsync of the master's and the
// replicas' append-only files; it is not used (see docs/redis.md).
func (s *Store) replicated(ctx context.Context, op, key string, write func(c writer) error) error {
	if s.minReplicas <= 0 {
		return write(s.client)
	}
	node, err := s.masterFor(ctx, key)
	if err != nil {
		return wrap(op, err)
	}
	conn := node.Conn()
	defer conn.Close()
	if err := write(conn); err != nil {
		return err
	}
	n, err := conn.Wait(ctx, s.minReplicas, s.replicaTimeout).Result()
	if err != nil {
		return wrap(op+": wait for replicas", err)
	}
	if n < int64(s.minReplicas) {
		return fmt.Errorf("%s: %w: %d of %d replicas acknowledged within %s",
			op, store.ErrUnavailable, n, s.minReplicas, s.replicaTimeout)
	}
	return nil
}

// masterFor returns the client of the master that owns key: the one
// client of a plain server or Sentinel, or the Cluster node of key's slot.
func (s *Store) masterFor(ctx context.Context, key string) (*redis.Client, error) {
	switch c := s.client.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, key)
	}
	return nil, fmt.Errorf("unexpected redis client %T", s.client)
}

// replicatedBatch is replicated for a write of several keys in several
// Cluster slots: queue(p, i) queues the write of keys[i] on p. Without
// MinReplicas it is one pipeline (one per node with Cluster); with it, one
// pipeline on a connection of its own per master, each followed by one
// WAIT. The first error is returned unwrapped, as Pipelined's.
func (s *Store) replicatedBatch(ctx context.Context, op string, keys []string, queue func(p redis.Pipeliner, i int)) error {
	if s.minReplicas <= 0 {
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range keys {
				queue(p, i)
			}
			return nil
		})
		return err
	}
	var (
		order  []*redis.Client
		byNode = map[*redis.Client][]int{}
	)
	for i, k := range keys {
		node, err := s.masterFor(ctx, k)
		if err != nil {
			return err
		}
		if _, ok := byNode[node]; !ok {
			order = append(order, node)
		}
		byNode[node] = append(byNode[node], i)
	}
	for _, node := range order {
		idx := byNode[node]
		err := s.replicated(ctx, op, keys[idx[0]], func(c writer) error {
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, i := range idx {
					queue(p, i)
				}
				return nil
			})
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// barrierKey returns the key that barrier writes for key: in key's slot
// (its hash tag, or the whole key if it has none), living a second.
func (s *Store) barrierKey(key string) string {
	tag := key
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			tag = key[i+1 : i+1+j]
		}
	}
	return s.prefix + "w{" + tag + "}"
}

// barrier writes, on c, a key of key's slot that lives a second, so that
// a WAIT on c that follows covers every write that the master had
// acknowledged before it on any connection: a write that found what it
// answers with already stored (a replayed rotation) has nothing of its own
// for WAIT to count.
func (s *Store) barrier(ctx context.Context, c writer, key string) error {
	if s.minReplicas <= 0 {
		return nil
	}
	return c.Set(ctx, s.barrierKey(key), "", time.Second).Err()
}
