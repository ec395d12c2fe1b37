package keys_test

import (
	"context"
	"testing"
	"time"

	"github.com/oauthkit/authserver/internal/testutil"
	"github.com/oauthkit/authserver/keys"
	"github.com/oauthkit/authserver/keys/keystest"
)

// watchedStore is a keystest.Store that notifies its watchers of every swap,
// as the Redis store does with pub/sub.
type watchedStore struct {
	*keystest.Store
	notify chan struct{}
}

func (w *watchedStore) SwapKeySet(ctx context.Context, version int64, data []byte) (int64, bool, error) {
	v, ok, err := w.Store.SwapKeySet(ctx, version, data)
	if ok {
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
	return v, ok, err
}

func (w *watchedStore) WatchKeySet(context.Context) <-chan struct{} { return w.notify }

// TestRunReloadsOnNotification polls only once an hour: the change made by
// another manager arrives through the watch.
func TestRunReloadsOnNotification(t *testing.T) {
	st := &watchedStore{Store: &keystest.Store{}, notify: make(chan struct{}, 1)}
	sealer := newSealer(t)
	a := keys.NewManager(st, sealer, keys.Options{PollInterval: time.Hour, Logger: quiet})
	if err := a.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-st.notify // the first key's own swap
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)

	b := keys.NewManager(st.Store, sealer, keys.Options{Logger: quiet})
	if err := b.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	k, err := b.Rotate(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	st.notify <- struct{}{} // b wrote to the plain store: announce it as Redis would
	testutil.Eventually(t, 5*time.Second, "the watched manager signs with the new key", func() bool {
		active, ok := a.Set().Active()
		return ok && active.KID() == k.KID()
	})
}
