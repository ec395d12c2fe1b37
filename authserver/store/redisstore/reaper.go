package redisstore

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A grace record expires when its grace is over, but Redis frees an
// expired key only when something reads it or when its active expiry
// cycle samples it, and that cycle rests while fewer than about 10% of the
// keys it samples have expired (active-expire-effort 1, the default).
// Grace records expire at the pace of refreshes, so they pile up, until
// they cost more memory than the grace records save (measured by
// BenchmarkMemoryUnderLoad; the figures are in docs/redis.md, "The
// reaper").
//
// Reading an expired key deletes it, and reading one that a later
// rotation replaced does nothing, so the reaper reads (EXISTS) every grace
// record that this process wrote, reapMargin after its grace is over by
// the local clock; the margin covers a Redis clock a little behind ours.
// What the reaper misses (a process that stops, a Redis that does not
// answer) Redis' own expiry still frees.
const (
	reapInterval = 500 * time.Millisecond
	reapMargin   = time.Second
	// reapMaxPending bounds the queue (some 80 bytes an entry): at
	// 20,000 refreshes a second and a grace of 10 seconds, 220,000 are
	// pending. Beyond it, Redis' own expiry has to do.
	reapMaxPending = 1 << 18
	reapTimeout    = 5 * time.Second
)

// reaper reads grace records once they have expired; see above.
type reaper struct {
	client redis.UniversalClient
	now    func() time.Time

	mu      sync.Mutex
	pending reapQueue

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func newReaper(client redis.UniversalClient, now func() time.Time) *reaper {
	r := &reaper{client: client, now: now, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

// add schedules the reading of the grace record at key, which expires
// after grace.
func (r *reaper) add(key string, grace time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending.Len() < reapMaxPending {
		heap.Push(&r.pending, reapEntry{key: key, at: r.now().Add(max(grace, 0) + reapMargin)})
	}
}

// close stops the reaper, dropping what is pending; it may be called more
// than once.
func (r *reaper) close() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
}

func (r *reaper) run() {
	defer close(r.done)
	t := time.NewTicker(reapInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.reap()
		}
	}
}

// reap reads, in one pipeline, every grace record whose time has come.
// Errors are ignored: Redis' own expiry is the fallback.
func (r *reaper) reap() {
	var keys []string
	now := r.now()
	r.mu.Lock()
	for r.pending.Len() > 0 && !r.pending[0].at.After(now) {
		keys = append(keys, heap.Pop(&r.pending).(reapEntry).key)
	}
	r.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), reapTimeout)
	defer cancel()
	r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Exists(ctx, k)
		}
		return nil
	})
}

type reapEntry struct {
	key string
	at  time.Time
}

// reapQueue is a min-heap of entries by time.
type reapQueue []reapEntry

func (q reapQueue) Len() int           { return len(q) }
func (q reapQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q reapQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *reapQueue) Push(x any)        { *q = append(*q, x.(reapEntry)) }
func (q *reapQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}
