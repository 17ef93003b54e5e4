package main

import (
	"log/slog"

	"github.com/torfs/torfs/internal/mountreg"
	"github.com/torfs/torfs/mount"
)

// registerMount records a live mount for torfs list and torfs umount and
// returns what removes the record. A mount that cannot register still
// runs: only those two commands miss it, which the warning says.
func registerMount(m mount.Mounted, source string, log *slog.Logger) func() {
	dir := mountreg.Dir()
	remove, err := mountreg.Register(dir, mountreg.Entry{
		Mountpoint: m.Mountpoint, Source: source, StatusURL: m.StatusURL, Torrents: m.Torrents,
	})
	if err != nil {
		log.Warn("torfs list and torfs umount will not see this mount", "err", err)
		return func() {}
	}
	return remove
}
