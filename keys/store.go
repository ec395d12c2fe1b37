package keys

import (
	"context"
	"fmt"
)

// Store persists the serialized key set as one versioned blob. The SQLite
// and Redis stores of authserver satisfy it.
type Store interface {
	// LoadKeySet returns the blob and its version; version 0 and no data
	// when none was ever stored.
	LoadKeySet(ctx context.Context) (data []byte, version int64, err error)
	// SwapKeySet stores data if the stored version is still version (0:
	// none yet) and returns the new version and true; false, storing
	// nothing, if another writer won.
	SwapKeySet(ctx context.Context, version int64, data []byte) (newVersion int64, swapped bool, err error)
}

// LoadSet reads and unmarshals the stored key set and its version. With
// nothing stored it returns an empty Set and version 0.
func LoadSet(ctx context.Context, st Store, sealer *Sealer) (Set, int64, error) {
	data, version, err := st.LoadKeySet(ctx)
	if err != nil {
		return Set{}, 0, fmt.Errorf("load key set: %w", err)
	}
	if version == 0 {
		return Set{}, 0, nil
	}
	set, err := Unmarshal(data, sealer)
	if err != nil {
		return Set{}, 0, fmt.Errorf("load key set: %w", err)
	}
	return set, version, nil
}

// Watcher is an optional capability of a Store: WatchKeySet returns a
// channel that receives a value soon after the stored key set may have
// changed (the Redis store publishes every successful swap), so that Run
// picks up a change at once instead of at its next poll. Polling goes on
// beside it, as the fallback for a missed message. The channel is closed
// or abandoned when ctx ends.
type Watcher interface {
	WatchKeySet(ctx context.Context) <-chan struct{}
}
