package cache

import (
	"path/filepath"
	"testing"
)

func TestDefaultBudget(t *testing.T) {
	dir := t.TempDir()
	free, err := FreeSpace(filepath.Join(dir, "not", "yet", "created"))
	if err != nil || free <= 0 {
		t.Fatalf("FreeSpace = %d, %v", free, err)
	}
	small, err := DefaultBudget(dir, 1<<20)
	if err != nil || small != 1<<20 {
		t.Fatalf("DefaultBudget for a small torrent = %d, %v; want the torrent's size", small, err)
	}
	huge, err := DefaultBudget(dir, 1<<62)
	if err != nil || huge <= 0 || huge > free/2+free/10 {
		t.Fatalf("DefaultBudget for a torrent larger than the disk = %d, %v; want about half of %d", huge, err, free)
	}
}
