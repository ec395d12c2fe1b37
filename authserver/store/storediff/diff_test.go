// Package storediff_test holds Redeem's rules to their one home: it drives
// the pure reference, store.Decide, the embedded backend (SQL) and the
// Redis backend (Lua; on one server and on a three-node Cluster, where a
// user change spans slots) with the same randomly generated sequences of
// logins, redemptions and user changes, and requires the same outcome of
// every step and the same state of every family after it.
//
// The seed is logged; AUTHSERVER_STOREDIFF_SEED replays one.
package storediff_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/oauthkit/authserver/authserver/store/storetest"

	"github.com/oauthkit/authserver/authserver/store"
	"github.com/oauthkit/authserver/authserver/store/embedded"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redisstoretest"
	"github.com/oauthkit/authserver/authserver/store/redisstore/redistest"
)

const (
	sequences = 25
	steps     = 80
)

func TestRedeemDifferential(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("AUTHSERVER_STOREDIFF_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("AUTHSERVER_STOREDIFF_SEED: %v", err)
		}
	}
	t.Logf("seed %d (AUTHSERVER_STOREDIFF_SEED=%d replays it)", seed, seed)
	addr := redistest.SharedAddr(t)
	cluster := redistest.StartCluster(t)
	seen := map[string]int{}
	for i := range sequences {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			rs, cs := redisstoretest.OpenAt(t, []string{addr}), redisstoretest.OpenAt(t, cluster)
			es, err := embedded.Open(filepath.Join(t.TempDir(), "diff.db"))
			if err != nil {
				t.Fatalf("open embedded store: %v", err)
			}
			t.Cleanup(func() { es.Close() })
			r := &run{
				t:        t,
				rnd:      rand.New(rand.NewPCG(seed, uint64(i))),
				backends: []backend{{"embedded", es}, {"redis", rs}, {"redis-cluster", cs}},
				families: map[string]store.Family{},
				users:    map[string]*user{},
				// In the future of the real clock, so that Redis' own
				// expiry (by its clock) never acts before the model's.
				now:  time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond),
				seen: seen,
			}
			r.sequence()
		})
	}
	// The generator must reach every rule, or agreement proves little.
	t.Logf("outcomes: %v", seen)
	for _, o := range []string{"not_found", "rotated", "replayed", "reused", "rejected/wrong_client",
		"rejected/scope", "rejected/unknown_token", "stale_login", "change"} {
		if seen[o] == 0 && !t.Failed() {
			t.Errorf("no step had the outcome %s", o)
		}
	}
}

type backend struct {
	name string
	s    store.Store
}

// user is the model of a user.
type user struct {
	store.User
	deleted bool
	old     []uint64 // versions it had, for logins that read it then
}

// run is one sequence: the model (users, families, now) and the backends.
type run struct {
	t        *testing.T
	rnd      *rand.Rand
	backends []backend
	users    map[string]*user
	families map[string]store.Family // the live ones, by the model
	ids      []string                // every family id ever created
	tokens   map[string][][]byte     // every token hash of a family, by generation
	now      time.Time
	step     int
	seen     map[string]int // outcomes, over all runs
}

var (
	grantedScopes = [][]string{nil, {"a"}, {"a", "b"}, {"b", "c", "a"}}
	clients       = []string{"app", "web"}
)

func (r *run) sequence() {
	r.tokens = map[string][][]byte{}
	for _, name := range []string{"alice", "bob"} {
		u := store.User{ID: "u_" + r.randomText(8), Name: name, PasswordHash: "$argon2id$" + name, Created: r.now}
		for _, b := range r.backends {
			if err := b.s.CreateUser(context.Background(), u); err != nil {
				r.t.Fatalf("%s: CreateUser: %v", b.name, err)
			}
		}
		r.users[name] = &user{User: u}
	}
	for r.step = 0; r.step < steps; r.step++ {
		r.now = r.now.Add(r.pick([]time.Duration{0, 0, time.Millisecond, time.Second, time.Second, 3 * time.Second, 9 * time.Second, 20 * time.Second}))
		switch n := r.rnd.IntN(100); {
		case n < 15 || len(r.ids) == 0:
			r.login()
		case n < 94:
			r.redeem()
		case n < 98:
			r.change()
		default:
			r.revoke()
		}
		r.compareFamilies()
	}
}

func pickOf[T any](rnd *rand.Rand, xs []T) T { return xs[rnd.IntN(len(xs))] }

func (r *run) pick(ds []time.Duration) time.Duration { return pickOf(r.rnd, ds) }

func (r *run) randomText(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.rnd.UintN(256))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (r *run) hash(parts ...any) []byte {
	h := sha256.Sum256(fmt.Append(nil, parts...))
	return h[:]
}

// login creates a family as a password login does, with the credential
// version it read now or, sometimes, before a change (a login in flight).
func (r *run) login() {
	u := r.users[pickOf(r.rnd, []string{"alice", "bob"})]
	version := u.CredentialVersion
	if len(u.old) > 0 && r.rnd.IntN(4) == 0 {
		version = pickOf(r.rnd, u.old)
	}
	id := "fam-" + strconv.Itoa(r.step)
	if r.rnd.IntN(2) == 0 {
		id = r.randomText(16) // the server's form
	}
	f := store.Family{
		ID: id, UserID: u.ID, ClientID: pickOf(r.rnd, clients), Scope: slices.Clone(pickOf(r.rnd, grantedScopes)),
		Created: r.now, LastUsed: r.now, IdleTTL: time.Minute, ExpiresAt: r.now.Add(5 * time.Minute),
		CurrentHash: r.hash(id, 0), CredentialVersion: version,
	}
	var want error
	if u.deleted || u.Disabled || version < u.CredentialVersion {
		want = store.ErrStaleCredentials
		r.seen["stale_login"]++
	} else {
		r.families[id] = f
		r.ids = append(r.ids, id)
		r.tokens[id] = [][]byte{f.CurrentHash}
	}
	for _, b := range r.backends {
		if err := b.s.CreateFamily(context.Background(), f); !sameError(err, want) {
			r.fatalf("%s: CreateFamily(version %d, user version %d): %v, want %v", b.name, version, u.CredentialVersion, err, want)
		}
	}
}

// redeem presents a token of a family, live or not: the current one, an
// earlier one or a forged one, from its client or another, asking for
// some scope, with some grace.
func (r *run) redeem() {
	id := pickOf(r.rnd, r.ids)
	if len(r.families) > 0 && r.rnd.IntN(5) > 0 {
		id = pickOf(r.rnd, slices.Sorted(maps.Keys(r.families)))
	}
	tokens := r.tokens[id]
	gen := len(tokens) - 1
	switch n := r.rnd.IntN(10); {
	case n < 5: // the current token
	case n < 9 && gen > 0: // an earlier one, most often the previous
		gen--
		if r.rnd.IntN(3) == 0 {
			gen = r.rnd.IntN(gen + 1)
		}
	default:
		gen = -1 // forged
	}
	red := store.Redemption{
		FamilyID: id, ClientID: pickOf(r.rnd, clients), Now: r.now,
		Grace:   r.pick([]time.Duration{0, 2 * time.Second, 10 * time.Second}),
		NewHash: r.hash(id, len(tokens), r.step), SealedNext: r.hash("sealed", id, r.step),
	}
	if f, ok := r.families[id]; ok && r.rnd.IntN(5) > 0 {
		red.ClientID = f.ClientID
	}
	if gen >= 0 {
		red.Generation, red.PresentedHash = uint32(gen), tokens[gen]
	} else {
		red.Generation, red.PresentedHash = uint32(r.rnd.IntN(len(tokens)+2)), r.hash("forged", r.step)
	}
	switch n := r.rnd.IntN(6); {
	case n == 0:
		red.Scope = []string{"z"}
	case n <= 3:
		if f, ok := r.families[id]; ok && len(f.RotationScope) > 0 {
			red.Scope = slices.Clone(f.RotationScope) // a faithful retry
			if r.rnd.IntN(2) == 0 {
				slices.Reverse(red.Scope)
			}
		}
	default:
		red.Scope = slices.Clone(pickOf(r.rnd, grantedScopes))
	}

	want, wantErr := r.reference(red)
	switch {
	case wantErr != nil:
		r.seen["not_found"]++
	case want.Outcome == store.Rejected:
		r.seen["rejected/"+want.Reason]++
	default:
		r.seen[want.Outcome.String()]++
	}
	for _, b := range r.backends {
		got, err := b.s.Redeem(context.Background(), red)
		if !sameError(err, wantErr) {
			r.fatalf("%s: Redeem(%+v): error %v, want %v", b.name, red, err, wantErr)
		}
		if err != nil {
			continue
		}
		if got.Outcome != want.Outcome || got.Reason != want.Reason {
			r.fatalf("%s: Redeem(generation %d of %d, scope %q, grace %v) = %v (%s), want %v (%s)",
				b.name, red.Generation, len(tokens)-1, red.Scope, red.Grace, got.Outcome, got.Reason, want.Outcome, want.Reason)
		}
		if d := storetest.DiffFamily(got.Family, want.Family); d != "" {
			r.fatalf("%s: Redeem %v family (-got +want):\n%s", b.name, got.Outcome, d)
		}
	}
}

// reference applies store.Decide to the model.
func (r *run) reference(red store.Redemption) (store.Redeemed, error) {
	f, ok := r.families[red.FamilyID]
	if !ok || !f.Expiry().After(red.Now) {
		delete(r.families, red.FamilyID)
		return store.Redeemed{}, store.ErrNotFound
	}
	res := store.Decide(f, red)
	switch res.Outcome {
	case store.Rotated:
		r.families[f.ID] = res.Family
		r.tokens[f.ID] = append(r.tokens[f.ID], res.Family.CurrentHash)
	case store.Reused:
		delete(r.families, f.ID)
	}
	return res, nil
}

// change runs a user change: every family of the user goes, and a login
// that read the user before now records an old version.
func (r *run) change() {
	u := r.users[pickOf(r.rnd, []string{"alice", "bob"})]
	ctx := context.Background()
	kind := r.rnd.IntN(10)
	if kind == 0 && u.Name == "bob" {
		kind = 1 // keep a user to log in with
	}
	var call func(s store.Store) error
	switch {
	case kind == 0:
		call = func(s store.Store) error { _, err := s.DeleteUser(ctx, u.Name); return err }
	case kind < 5:
		call = func(s store.Store) error {
			_, err := s.SetPassword(ctx, u.Name, "$argon2id$"+r.randomText(4))
			return err
		}
	default:
		disabled := !u.Disabled
		call = func(s store.Store) error { _, err := s.SetDisabled(ctx, u.Name, disabled); return err }
	}
	var want error
	r.seen["change"]++
	if u.deleted {
		want = store.ErrNotFound
	} else {
		u.old = append(u.old, u.CredentialVersion)
		u.CredentialVersion++
		switch {
		case kind == 0:
			u.deleted = true
		case kind >= 5:
			u.Disabled = !u.Disabled
		}
		for id, f := range r.families {
			if f.UserID == u.ID {
				delete(r.families, id)
			}
		}
	}
	for _, b := range r.backends {
		if err := call(b.s); !sameError(err, want) {
			r.fatalf("%s: change %d of %s: %v, want %v", b.name, kind, u.Name, err, want)
		}
		if u.deleted {
			continue
		}
		got, err := b.s.GetUser(ctx, u.Name)
		if err != nil || got.CredentialVersion != u.CredentialVersion || got.Disabled != u.Disabled {
			r.fatalf("%s: GetUser after a change: version %d, disabled %t, %v; want %d, %t",
				b.name, got.CredentialVersion, got.Disabled, err, u.CredentialVersion, u.Disabled)
		}
	}
}

func (r *run) revoke() {
	id := pickOf(r.rnd, r.ids)
	delete(r.families, id)
	for _, b := range r.backends {
		if err := b.s.RevokeFamily(context.Background(), id); err != nil {
			r.fatalf("%s: RevokeFamily: %v", b.name, err)
		}
	}
}

// compareFamilies requires every backend to hold exactly the model's live
// families, as the model holds them.
func (r *run) compareFamilies() {
	for _, id := range r.ids {
		want, live := r.families[id]
		if live && !want.Expiry().After(r.now) {
			live = false
		}
		for _, b := range r.backends {
			got, err := b.s.GetFamily(context.Background(), id, r.now)
			switch {
			case !live && !errors.Is(err, store.ErrNotFound):
				r.fatalf("%s: GetFamily(%s) of no live family: %v", b.name, id, err)
			case live && err != nil:
				r.fatalf("%s: GetFamily(%s): %v", b.name, id, err)
			case live:
				if d := storetest.DiffFamily(got, want); d != "" {
					r.fatalf("%s: GetFamily(%s) (-got +want):\n%s", b.name, id, d)
				}
			}
		}
	}
}

func (r *run) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("step %d: "+format, append([]any{r.step}, args...)...)
}

func sameError(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}
