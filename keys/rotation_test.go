package keys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/keystest"
)

// TestScheduledLifecycle drives ten scheduled rotations with an injected
// clock and one Maintain per step, and checks every step against a model
// of the lifecycle: the keys in the JWKS, their states and times, the
// signing kid, and that the document changes exactly when its members do.
func TestScheduledLifecycle(t *testing.T) {
	const (
		every, ahead, ttl, skew = time.Hour, 10 * time.Minute, 15 * time.Minute, time.Minute
		rotations               = 10
	)
	ctx := context.Background()
	clk := newClock()
	start := clk.Now()
	st, sealer := &keystest.Store{}, newSealer(t)
	opts := keys.Options{Algorithm: keys.EdDSA, RotateEvery: every, PublishAhead: ahead, AccessTTL: ttl, Skew: skew, Now: clk.Now}
	m := newManager(t, st, sealer, opts)

	// The model: key i is added at added(i), signs from activates(i) until
	// activates(i+1) and is published, retired, until gone(i).
	activates := func(i int) time.Time { return start.Add(time.Duration(i) * every) }
	added := func(i int) time.Time {
		if i == 0 {
			return start
		}
		return activates(i).Add(-ahead)
	}
	gone := func(i int) time.Time { return activates(i + 1).Add(ttl + skew) }
	end := activates(rotations).Add(every / 2)

	// Every minute, and one nanosecond before each event, so that each
	// transition is seen to happen exactly at its time.
	var steps []time.Time
	for at := start; !at.After(end); at = at.Add(time.Minute) {
		steps = append(steps, at)
	}
	for i := 0; i <= rotations; i++ {
		steps = append(steps, added(i).Add(-1), activates(i).Add(-1), gone(i).Add(-1))
	}
	slices.SortFunc(steps, func(a, b time.Time) int { return a.Compare(b) })
	steps = slices.CompactFunc(steps, func(a, b time.Time) bool { return a.Equal(b) })

	var (
		kids     []string // model index → kid, in order of appearance
		index    = map[string]int{}
		tokens   []issued // still valid
		prevKIDs []string // published at the previous step
		prevTag  string
	)
	for _, at := range steps {
		if at.Before(start) || at.After(end) {
			continue
		}
		clk.Advance(at.Sub(clk.Now()))
		if err := m.Maintain(ctx); err != nil {
			t.Fatalf("%v: Maintain: %v", at.Sub(start), err)
		}
		var want, got []string
		activeIdx := -1
		for i := 0; i <= rotations; i++ {
			if at.Before(added(i)) || !at.Before(gone(i)) {
				continue
			}
			switch {
			case at.Before(activates(i)):
				want = append(want, fmt.Sprintf("%d=next", i))
			case at.Before(activates(i + 1)):
				want = append(want, fmt.Sprintf("%d=active", i))
				activeIdx = i
			default:
				want = append(want, fmt.Sprintf("%d=retired", i))
			}
		}
		var published []string
		for _, k := range m.Keys() {
			i, ok := index[k.KID]
			if !ok {
				i = len(kids)
				index[k.KID] = i
				kids = append(kids, k.KID)
			}
			got = append(got, fmt.Sprintf("%d=%s", i, k.State))
			published = append(published, k.KID)
			wantRetires := time.Time{}
			if k.State == keys.Retired {
				wantRetires = gone(i)
			}
			if !k.Activates.Equal(activates(i)) || !k.Retires.Equal(wantRetires) {
				t.Fatalf("%v: key %d activates %v retires %v; want %v, %v", at.Sub(start), i, k.Activates, k.Retires, activates(i), wantRetires)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%v: keys (-got +want):\n- %v\n+ %v", at.Sub(start), got, want)
		}

		doc, tag := m.JWKS()
		if jwks := jwksAlgs(t, doc); !slices.Equal(jwks.kids, published) || slices.ContainsFunc(jwks.algs, func(a string) bool { return a != keys.EdDSA }) {
			t.Fatalf("%v: JWKS %v, want %v", at.Sub(start), jwks, published)
		}
		if membersChanged := !slices.Equal(published, prevKIDs); membersChanged != (tag != prevTag) {
			t.Fatalf("%v: members changed %v but ETag changed %v", at.Sub(start), membersChanged, tag != prevTag)
		}
		prevKIDs, prevTag = published, tag

		tokens = slices.DeleteFunc(tokens, func(tok issued) bool { return !at.Before(tok.exp) })
		tok := sign(t, m, at, ttl)
		if tok.kid != kids[activeIdx] {
			t.Fatalf("%v: signed with %q, want key %d (%q)", at.Sub(start), tok.kid, activeIdx, kids[activeIdx])
		}
		tokens = append(tokens, tok)
		// The oldest unexpired token was signed by the key retired last,
		// if any: the one closest to leaving.
		oldest := tokens[0]
		if _, kid, err := m.Verify([]byte(oldest.token)); err != nil || kid != oldest.kid {
			t.Fatalf("%v: unexpired token of %s (%v ago): kid %q, %v", at.Sub(start), oldest.kid, at.Sub(oldest.iat), kid, err)
		}
	}
	if len(kids) != rotations+1 {
		t.Fatalf("%d keys over the run, want %d", len(kids), rotations+1)
	}

	// The document is a function of the published keys alone: another
	// process builds the very same bytes.
	other := newManager(t, st, sealer, opts)
	doc, tag := m.JWKS()
	if doc2, tag2 := other.JWKS(); !bytes.Equal(doc, doc2) || tag != tag2 {
		t.Fatalf("another process serves another document:\n%s\n%s", doc, doc2)
	}
}

// TestConcurrentScheduledRotation: five replicas maintaining one store at
// the same instant store exactly one new key per rotation and one
// promotion, even when all of them decided on the same stale version.
func TestConcurrentScheduledRotation(t *testing.T) {
	const (
		n            = 5
		every, ahead = time.Hour, 10 * time.Minute
	)
	ctx := context.Background()
	clk := newClock()
	st, sealer := &keystest.Store{}, newSealer(t)
	logs := &auditLog{}
	opts := keys.Options{Algorithm: keys.ES256, RotateEvery: every, PublishAhead: ahead, Now: clk.Now, Logger: logs.logger()}
	var ms [n]*keys.Manager
	for i := range ms {
		ms[i] = newManager(t, st, sealer, opts)
	}

	// maintainAll calls Maintain on every replica at once. The store holds
	// back the first n loads (the replicas' reloads), after they read,
	// until all n have read: every replica decides on the same version,
	// finds the change due (and generates a key), and all race to store
	// it. Only the check inside the compare-and-swap stops the losers.
	maintainAll := func() {
		var arrived atomic.Int32
		gate := make(chan struct{})
		st.SetOnLoad(func() {
			switch k := arrived.Add(1); {
			case k < n:
				<-gate
			case k == n:
				close(gate)
			}
		})
		defer st.SetOnLoad(nil)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, m := range ms {
			wg.Go(func() { errs[i] = m.Maintain(ctx) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() keys.Set {
		set, _, err := keys.LoadSet(ctx, st, sealer)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}

	clk.Advance(every - ahead)
	for round := 1; round <= 3; round++ {
		t.Run(fmt.Sprintf("rotation-%d", round), func(t *testing.T) {
			_, swaps := st.Stats()
			rotated, promoted := logs.count(keys.EventRotated), logs.count(keys.EventPromoted)
			before := stored()

			maintainAll()
			after := stored()
			var fresh []keys.Key
			for _, k := range after.Published() {
				if _, ok := before.Key(k.KID()); !ok {
					fresh = append(fresh, k)
				}
			}
			if _, s := st.Stats(); len(fresh) != 1 || s != swaps+1 || logs.count(keys.EventRotated) != rotated+1 {
				t.Fatalf("%d new keys in %d writes, %d logged; want exactly 1", len(fresh), s-swaps, logs.count(keys.EventRotated)-rotated)
			}
			if k := fresh[0]; k.State() != keys.Next || !k.Activates().Equal(clk.Now().Add(ahead)) {
				t.Fatalf("new key %v activates %v, want next at now+%v", k, k.Activates(), ahead)
			}

			clk.Advance(ahead)
			maintainAll()
			if _, s := st.Stats(); s != swaps+2 || logs.count(keys.EventPromoted) != promoted+1 {
				t.Fatalf("promotion took %d writes, %d logged; want 1", s-swaps-1, logs.count(keys.EventPromoted)-promoted)
			}
			for i, m := range ms {
				if err := m.Reload(ctx); err != nil {
					t.Fatal(err)
				}
				if got := activeKID(m); got != fresh[0].KID() {
					t.Fatalf("replica %d signs with %q, want %q", i, got, fresh[0].KID())
				}
			}
			clk.Advance(every - ahead)
		})
	}
}

// TestCatchUpOnInit: a replica that starts after a long pause (all
// replicas down) catches up in Init, without waiting for Run.
func TestCatchUpOnInit(t *testing.T) {
	const every, ahead = time.Hour, 10 * time.Minute
	for _, tc := range []struct {
		name       string
		rotate     bool // a next key was scheduled before the pause
		wantStates []keys.State
	}{
		{"overdue-rotation-scheduled", false, []keys.State{keys.Active, keys.Next}},
		{"passed-next-key-promoted", true, []keys.State{keys.Retired, keys.Active}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			st, sealer := &keystest.Store{}, newSealer(t)
			opts := keys.Options{Algorithm: keys.EdDSA, RotateEvery: every, PublishAhead: ahead, Now: clk.Now}
			first := newManager(t, st, sealer, opts)
			clk.Advance(time.Minute)
			if tc.rotate {
				if _, err := first.Rotate(ctx, false); err != nil {
					t.Fatal(err)
				}
			}
			clk.Advance(5 * every)

			m := newManager(t, st, sealer, opts)
			infos := m.Keys()
			var got []keys.State
			for _, k := range infos {
				got = append(got, k.State)
			}
			if !slices.Equal(got, tc.wantStates) {
				t.Fatalf("states after Init %v, want %v", got, tc.wantStates)
			}
			// A promoted key signs from now; a new one is published for
			// the whole of PublishAhead first.
			want := clk.Now().Add(ahead)
			if tc.rotate {
				want = clk.Now()
			}
			if last := infos[len(infos)-1]; !last.Activates.Equal(want) {
				t.Fatalf("%v activates %v, want %v", last.State, last.Activates, want)
			}
		})
	}
}

// TestRevokeActiveKeepsSigning: revoking the active key leaves a signer at
// once; the revoked kid leaves the JWKS and is refused, here and on
// another replica.
func TestRevokeActiveKeepsSigning(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rotate bool // a next key is pending
	}{
		{"successor-generated", false},
		{"pending-next-promoted", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			st, sealer := &keystest.Store{}, newSealer(t)
			logs := &auditLog{}
			opts := keys.Options{Algorithm: keys.ES256, Now: clk.Now, Logger: logs.logger()}
			m := newManager(t, st, sealer, opts)
			replica := newManager(t, st, sealer, opts)
			srv := httptest.NewServer(http.HandlerFunc(m.ServeJWKS))
			defer srv.Close()
			var pending keys.Key
			if tc.rotate {
				var err error
				if pending, err = m.Rotate(ctx, false); err != nil {
					t.Fatal(err)
				}
			}
			leaked := activeKID(m)
			oldToken := sign(t, m, clk.Now(), time.Hour)
			_, oldTag := m.JWKS()

			if err := m.Revoke(ctx, leaked); err != nil {
				t.Fatal(err)
			}
			tok := sign(t, m, clk.Now(), time.Hour)
			if tok.kid == leaked || (tc.rotate && tok.kid != pending.KID()) {
				t.Fatalf("signs with %q after revoking %q (pending %q)", tok.kid, leaked, pending.KID())
			}
			if err := replica.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
			for name, mgr := range map[string]*keys.Manager{"revoking": m, "replica": replica} {
				if _, _, err := mgr.Verify([]byte(tok.token)); err != nil {
					t.Fatalf("%s: new token refused: %v", name, err)
				}
				if _, _, err := mgr.Verify([]byte(oldToken.token)); !errors.Is(err, keys.ErrInvalidToken) || !strings.Contains(err.Error(), "unknown kid") {
					t.Fatalf("%s: token of the revoked key: %v, want unknown kid", name, err)
				}
			}
			var served jose.JSONWebKeySet
			resp := getJWKS(t, srv.URL, "")
			if err := json.Unmarshal(resp.body, &served); err != nil {
				t.Fatal(err)
			}
			if len(served.Key(leaked)) != 0 || len(served.Key(tok.kid)) != 1 || resp.etag == oldTag {
				t.Fatalf("served JWKS still has %q, or lacks %q, or kept its ETag", leaked, tok.kid)
			}
			if ev := logs.find(t, keys.EventRevoked); ev == nil || ev["kid"] != leaked || ev["level"] != "WARN" || ev["trigger"] != "revoke" {
				t.Fatalf("audit line for the revocation: %v", ev)
			}
		})
	}
}

// TestAlgorithmMigration: changing Options.Algorithm and rotating moves
// from RS256 to ES256 without a failed verification: both keys are
// published during the overlap, each with its own alg; after retirement
// only ES256 remains.
func TestAlgorithmMigration(t *testing.T) {
	const ahead, ttl, skew = 10 * time.Minute, 15 * time.Minute, time.Minute
	ctx := context.Background()
	clk := newClock()
	st, sealer := &keystest.Store{}, newSealer(t)
	opts := keys.Options{Algorithm: keys.RS256, PublishAhead: ahead, AccessTTL: ttl, Skew: skew, Now: clk.Now}
	old := newManager(t, st, sealer, opts)
	rsToken := sign(t, old, clk.Now(), ttl)

	clk.Advance(time.Minute)
	opts.Algorithm = keys.ES256 // the new configuration, on a restarted replica
	migrated := newManager(t, st, sealer, opts)
	next, err := migrated.Rotate(ctx, false)
	if err != nil || next.Algorithm() != keys.ES256 {
		t.Fatalf("rotated to %v: %v", next, err)
	}
	srv := httptest.NewServer(http.HandlerFunc(migrated.ServeJWKS))
	defer srv.Close()
	wantAlgs := func(want ...string) {
		t.Helper()
		resp := getJWKS(t, srv.URL, "")
		if got := jwksAlgs(t, resp.body); !slices.Equal(got.algs, want) {
			t.Fatalf("JWKS algs %v, want %v", got.algs, want)
		}
	}
	wantAlgs(keys.RS256, keys.ES256)

	clk.Advance(ahead)
	for _, m := range []*keys.Manager{old, migrated} {
		if err := m.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wantAlgs(keys.RS256, keys.ES256)
	// Both replicas sign with the active key, whatever their own config.
	esTokens := []issued{sign(t, old, clk.Now(), ttl), sign(t, migrated, clk.Now(), ttl)}
	for _, tok := range append(esTokens, rsToken) {
		wantAlg := keys.ES256
		if tok.kid == rsToken.kid {
			wantAlg = keys.RS256
		}
		if got := headerAlg(t, tok.token); got != wantAlg {
			t.Fatalf("token header alg %q, want %q", got, wantAlg)
		}
		if _, _, err := testutil.VerifyJOSE(testutil.FetchJWKS(t, srv.URL), tok.token); err != nil {
			t.Fatalf("%s token refused by go-jose during the overlap: %v", wantAlg, err)
		}
		if _, _, err := migrated.Verify([]byte(tok.token)); err != nil {
			t.Fatalf("%s token refused during the overlap: %v", wantAlg, err)
		}
	}

	clk.Advance(ttl + skew)
	if err := migrated.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	wantAlgs(keys.ES256)
	if _, _, err := testutil.VerifyJOSE(testutil.FetchJWKS(t, srv.URL), esTokens[0].token); err != nil {
		t.Fatalf("ES256 token refused after the migration: %v", err)
	}
	if _, _, err := migrated.Verify([]byte(rsToken.token)); !errors.Is(err, keys.ErrInvalidToken) {
		t.Fatalf("token of the pruned RS256 key: %v", err)
	}
}

// TestPromotionKeepsJWKS: a promotion changes no published member, so the
// document and its ETag stay, and a verifier's conditional GET gets 304.
func TestPromotionKeepsJWKS(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st, sealer := &keystest.Store{}, newSealer(t)
	opts := keys.Options{Algorithm: keys.EdDSA, PublishAhead: time.Minute, Now: clk.Now}
	m := newManager(t, st, sealer, opts)
	if _, err := m.Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(m.ServeJWKS))
	defer srv.Close()
	before := getJWKS(t, srv.URL, "")

	clk.Advance(time.Minute)
	prev := activeKID(m)
	if err := m.Maintain(ctx); err != nil || activeKID(m) == prev {
		t.Fatalf("no promotion: %v", err)
	}
	if resp := getJWKS(t, srv.URL, before.etag); resp.status != http.StatusNotModified {
		t.Fatalf("conditional GET after a promotion: %d, want 304", resp.status)
	}
	// Not merely reused: a fresh process builds the same bytes, so no
	// state is in the document.
	if doc, _ := newManager(t, st, sealer, opts).JWKS(); !bytes.Equal(doc, before.body) {
		t.Fatalf("document after promotion (-got +want):\n- %s\n+ %s", doc, before.body)
	}
}

// TestAuditLog: every stored change is logged once, by the Manager, with
// event, kid, alg and trigger and nothing else of the key.
func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	logs := &auditLog{}
	opts := keys.Options{Algorithm: keys.EdDSA, RotateEvery: time.Hour, PublishAhead: 10 * time.Minute, AccessTTL: 15 * time.Minute, Skew: time.Minute, Now: clk.Now, Logger: logs.logger()}
	m := newManager(t, nil, nil, opts)
	first := activeKID(m)
	clk.Advance(50 * time.Minute)
	if err := m.Maintain(ctx); err != nil { // scheduled rotation
		t.Fatal(err)
	}
	second := m.Keys()[1].KID
	clk.Advance(10 * time.Minute)
	if err := m.Maintain(ctx); err != nil { // promotion
		t.Fatal(err)
	}
	clk.Advance(16 * time.Minute)
	if err := m.Maintain(ctx); err != nil { // prune
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, second); err != nil { // successor generated
		t.Fatal(err)
	}
	third := activeKID(m)

	want := []string{
		"key_rotated init " + first, "key_promoted init " + first,
		"key_rotated schedule " + second,
		"key_promoted schedule " + second, "key_retired schedule " + first,
		"key_pruned schedule " + first,
		"key_rotated revoke " + third, "key_promoted revoke " + third, "key_revoked revoke " + second,
	}
	allowed := []string{"time", "level", "msg", "log", "event", "kid", "alg", "trigger", "state", "activates", "retires"}
	var got []string
	for _, ev := range logs.events(t) {
		got = append(got, fmt.Sprintf("%v %v %v", ev["event"], ev["trigger"], ev["kid"]))
		for field := range ev {
			if !slices.Contains(allowed, field) {
				t.Errorf("audit line has field %q: %v", field, ev)
			}
		}
		if ev["alg"] != keys.EdDSA {
			t.Errorf("audit line without alg: %v", ev)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audit events (-got +want):\n- %q\n+ %q", got, want)
	}
}

func TestOptionsRotateEvery(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rotateEvery time.Duration
		wantErr     bool
	}{
		{"off", 0, false},
		{"longer-than-publish-ahead", 11 * time.Minute, false},
		{"equal-to-publish-ahead", 10 * time.Minute, true},
		{"negative", -time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := keys.NewManager(&keystest.Store{}, newSealer(t), keys.Options{Algorithm: keys.EdDSA, PublishAhead: 10 * time.Minute, RotateEvery: tc.rotateEvery, Logger: quiet})
			if err := m.Init(context.Background()); (err != nil) != tc.wantErr {
				t.Fatalf("Init error = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
