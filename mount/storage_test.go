package mount

import (
	"errors"
	"fmt"
	"testing"

	"github.com/torfs/torfs/cache"
	"github.com/torfs/torfs/fetch"
)

// The cache is the engine's storage.
var _ fetch.SharedStorage = (*cache.Cache)(nil)

// TestCacheFullIsStorageFull: the engine recognizes the cache's full
// budget as its own contract's error, without importing the cache.
func TestCacheFullIsStorageFull(t *testing.T) {
	err := fmt.Errorf("cache: piece 7: %w", cache.ErrBudget)
	if !errors.Is(err, fetch.ErrStorageFull) {
		t.Fatal("cache.ErrBudget does not match fetch.ErrStorageFull")
	}
}
