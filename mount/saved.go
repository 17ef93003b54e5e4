package mount

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/internal/atomicfile"
	"github.com/torfs/torfs/metainfo"
)

// savedPath is where the .torrent of a resolved magnet link is kept. It
// is outside the torrent's own cache directory, which an unmount without
// --keep deletes: metadata is small and costly to find again.
func (s *Session) savedPath(h metainfo.Hash) string {
	return filepath.Join(s.cfg.CacheDir, "torrents", h.String()+".torrent")
}

// loadSaved returns the saved .torrent of magnet link m, or nil when
// there is none. A file that does not parse or holds another torrent is
// an error: the caller resolves again, and saving replaces it.
func (s *Session) loadSaved(m *metainfo.Magnet) (*metainfo.MetaInfo, error) {
	h := m.InfoHash
	path := s.savedPath(h)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	mi, err := metainfo.Load(path)
	if err != nil {
		return nil, err
	}
	if !m.Names(mi) {
		return nil, fmt.Errorf("%s holds torrent %s, not %s", path, mi.InfoHash, h)
	}
	return mi, nil
}

// save writes mi, resolved from magnet link m, where loadSaved finds it,
// atomically, so a crash never leaves half a file for the next mount to
// trip on. It goes by the link's info-hash: a link with only urn:btmh
// names a hybrid by its truncated v2 one.
func (s *Session) save(mi *metainfo.MetaInfo, m *metainfo.Magnet) (string, error) {
	path := s.savedPath(m.InfoHash)
	b, err := mi.Encode()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("saving the torrent: %w", err)
	}
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("saving the torrent: %w", err)
	}
	return path, nil
}

// loadSavedLayers returns the .torrent an earlier mount saved for mi, a
// v2-only torrent whose piece layers leave files out, once it had fetched
// the hashes missing; nil when there is none.
func (s *Session) loadSavedLayers(mi *metainfo.MetaInfo) (*metainfo.MetaInfo, error) {
	saved, err := s.loadSaved(mi.Magnet())
	if err != nil || saved == nil {
		return nil, err
	}
	if !saved.HasAllHashesV2() {
		return nil, fmt.Errorf("%s lacks piece hashes too", s.savedPath(mi.InfoHash))
	}
	return saved, nil
}

// withLayers returns mi ready to serve: itself, or for a v2-only torrent
// whose piece layers leave files out, the .torrent an earlier mount
// saved with them all. It returns nil when the hashes are to be asked
// of peers, while a placeholder shows; log says what it chose.
func (s *Session) withLayers(mi *metainfo.MetaInfo, log *slog.Logger) *metainfo.MetaInfo {
	if fetch.CheckSupported(mi) == nil {
		return mi
	}
	full, err := s.loadSavedLayers(mi)
	if err != nil {
		log.Warn("ignoring the saved piece hashes of a torrent; asking peers again", "err", err)
	}
	if full != nil {
		log.Info("using the piece hashes saved by an earlier mount", "saved", s.savedPath(mi.InfoHash))
	}
	return full
}
