package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/authserver/internal/testutil"
)

// chaosFault is one kind of fault a chaos run injects.
type chaosFault struct {
	short, name string
	inject      func(*chaosFleet, *chaosRedis)
}

var chaosFaults = []chaosFault{
	{"kill-replica", "kill -9 of an authserver replica", func(f *chaosFleet, _ *chaosRedis) { f.kill9() }},
	{"rolling-restart", "rolling SIGTERM restart", func(f *chaosFleet, _ *chaosRedis) { f.rollingRestart() }},
	{"failover", "SENTINEL FAILOVER", func(_ *chaosFleet, r *chaosRedis) { r.failover() }},
	{"kill-master", "kill -9 of the Redis master", func(_ *chaosFleet, r *chaosRedis) { r.killMaster() }},
	{"pause-master", "SIGSTOP of the master, 2-4s", func(_ *chaosFleet, r *chaosRedis) { r.pauseMaster() }},
	{"rotate-key", "signing-key rotation", func(f *chaosFleet, _ *chaosRedis) {
		// Right after a failover the store may refuse the write (503 for
		// a server): the operator runs the command again.
		var stderr string
		if !testutil.WaitFor(30*time.Second, func() bool {
			var code int
			_, stderr, code = cli(f.t, f.dir, "", f.env, "--config", f.cfg, "keys", "rotate")
			return code == 0
		}) {
			f.t.Errorf("keys rotate failed for 30s: %s", stderr)
		}
	}},
}

// faultRecord is one fault injected: its kind and when.
type faultRecord struct {
	kind int
	at   time.Time
}

// runFaults injects faults for d, one every 2 to 5 seconds, each kind in
// turn in a shuffled order, so that a run of six faults or more has every
// kind. only, when not empty, names the kinds to inject (their short
// names, comma-separated: CHAOS_FAULTS).
func runFaults(t *testing.T, f *chaosFleet, r *chaosRedis, d time.Duration, only string) []faultRecord {
	var (
		out   []faultRecord
		bag   []int
		kinds []int
	)
	for k, c := range chaosFaults {
		if only == "" || slices.Contains(strings.Split(only, ","), c.short) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		t.Fatalf("CHAOS_FAULTS=%q names no fault", only)
	}
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(time.Duration(2000+rand.IntN(3000)) * time.Millisecond) // the pace of the faults
		if len(bag) == 0 {
			for _, i := range rand.Perm(len(kinds)) {
				bag = append(bag, kinds[i])
			}
		}
		k := bag[0]
		bag = bag[1:]
		out = append(out, faultRecord{kind: k, at: time.Now()})
		t.Logf("%s fault: %s", time.Now().Format("15:04:05.000"), chaosFaults[k].name)
		chaosFaults[k].inject(f, r)
	}
	return out
}

// chaosReport is what a chaos run prints.
type chaosReport struct {
	stats       *chaosStats
	faults      []faultRecord
	duration    time.Duration
	clients     int
	minReplicas int
	goroutines  [2]int // the clients' process, at the start and the end
	conns       [2]int // connections to the Redis master, at the start and the end
	recovered   bool   // every client served after the last fault
}

// after returns the kind of the last fault injected before t, or -1.
func (r chaosReport) after(t time.Time) int {
	kind := -1
	for _, f := range r.faults {
		if !f.at.After(t) {
			kind = f.kind
		}
	}
	return kind
}

// longest503 returns, per fault kind, the longest stretch of 503s that
// began after a fault of that kind (and before the next fault), and the
// sessions lost after each.
func (r chaosReport) longest503() (map[int]time.Duration, map[int]int) {
	longest, lost := map[int]time.Duration{}, map[int]int{}
	s := r.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, d := range s.streaks {
		k := r.after(s.streakEnds[i].Add(-d))
		longest[k] = max(longest[k], d)
	}
	for _, t := range s.losses {
		lost[r.after(t)]++
	}
	return longest, lost
}

func (r chaosReport) table() string {
	s := r.stats
	var b strings.Builder
	fmt.Fprintf(&b, "\nchaos run: %s, %d clients, min_replicas %d; Redis master + 2 replicas (AOF) + 3 Sentinels, 3 authserver replicas\n\n",
		r.duration, r.clients, r.minReplicas)
	fmt.Fprintf(&b, "| requests | 200 | 503 | no answer (server killed) | retries checked against the ledger |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %d |\n\n", s.requests.Load(), s.ok.Load(), s.unavailable.Load(), s.transport.Load(), s.replays.Load())
	counts := map[int]int{}
	for _, f := range r.faults {
		counts[f.kind]++
	}
	longest, lost := r.longest503()
	fmt.Fprintf(&b, "| fault | injected | longest stretch of 503s after it | sessions lost after it |\n|---|---|---|---|\n")
	for k, f := range chaosFaults {
		fmt.Fprintf(&b, "| %s | %d | %s | %d |\n", f.name, counts[k], longest[k].Round(time.Millisecond), lost[k])
	}
	if longest[-1] > 0 || lost[-1] > 0 {
		fmt.Fprintf(&b, "| (before any fault) | | %s | %d |\n", longest[-1].Round(time.Millisecond), lost[-1])
	}
	// Only a WAIT for every replica keeps a failover that promotes while
	// the old master still takes writes from losing any (docs/redis.md).
	lostRule := "reported"
	if r.minReplicas >= chaosReplicas {
		lostRule = "0"
	}
	fmt.Fprintf(&b, "\n| invariant | value | required |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| double redemptions (a token with two successors) | %d | 0 |\n", s.doubles.Load())
	fmt.Fprintf(&b, "| sessions lost (forced to log in again) | %d | %s |\n", s.lost.Load(), lostRule)
	fmt.Fprintf(&b, "| failed access-token verifications | %d | 0 |\n", s.verifyFailed.Load())
	fmt.Fprintf(&b, "| responses other than 200 or 503 | %d %v | 0 |\n", s.other.Load(), s.otherCodes)
	fmt.Fprintf(&b, "| every client served after the last fault | %v | true |\n", r.recovered)
	fmt.Fprintf(&b, "| goroutines of the clients, start → end | %d → %d | no growth |\n", r.goroutines[0], r.goroutines[1])
	fmt.Fprintf(&b, "| connections to the Redis master, start → end | %d → %d | reported |\n", r.conns[0], r.conns[1])
	return b.String()
}

// broken lists the invariants the run broke.
func (r chaosReport) broken() []string {
	s := r.stats
	var out []string
	if n := s.doubles.Load(); n > 0 {
		out = append(out, fmt.Sprintf("%d double redemptions", n))
	}
	if n := s.lost.Load(); n > 0 && r.minReplicas >= chaosReplicas {
		s.mu.Lock()
		var at []string
		for _, t := range s.losses {
			if a := t.Format("15:04:05"); !slices.Contains(at, a) {
				at = append(at, a)
			}
		}
		out = append(out, fmt.Sprintf("%d sessions lost with min_replicas %d, e.g. %q, at %v", n, r.minReplicas, s.lossWhy[0], at))
		s.mu.Unlock()
	}
	if n := s.verifyFailed.Load(); n > 0 {
		s.mu.Lock()
		out = append(out, fmt.Sprintf("%d access tokens failed verification, e.g. %v", n, s.verifyErrs[0]))
		s.mu.Unlock()
	}
	if n := s.other.Load(); n > 0 {
		out = append(out, fmt.Sprintf("%d responses other than 200 or 503: %v", n, s.otherCodes))
	}
	if !r.recovered {
		out = append(out, "not every client was served again within 60s of the last fault")
	}
	if r.goroutines[1] > r.goroutines[0]+5 {
		out = append(out, fmt.Sprintf("goroutines grew from %d to %d", r.goroutines[0], r.goroutines[1]))
	}
	return out
}
