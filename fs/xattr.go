package fs

import (
	"fmt"
	"syscall"
)

// Extended attributes the file system offers to people and scripts.
const (
	// XattrInfoHash holds the torrent's info-hash as 40 hex digits, on
	// the directory that shows the torrent.
	XattrInfoHash = "user.torfs.infohash"
	// XattrProgress holds "VERIFIED/TOTAL" in bytes, on every file and
	// directory.
	XattrProgress = "user.torfs.progress"
	// XattrStatus holds the URL of the mounting process's status page,
	// on the root of the mount, when it has one.
	XattrStatus = "user.torfs.status"
	// XattrState holds, on the root of a magnet mount, what it is doing:
	// "resolving metadata ..." (the first line of ResolvingName) until
	// the torrent is known, then StateReady.
	XattrState = "user.torfs.state"
)

func progressValue(verified, total int64) []byte {
	return fmt.Appendf(nil, "%d/%d", verified, total)
}

// xattrReply copies value into dest following getxattr(2): with an empty
// dest it reports the size, with a short one ERANGE.
func xattrReply(value, dest []byte) (uint32, syscall.Errno) {
	if len(dest) < len(value) {
		return uint32(len(value)), syscall.ERANGE
	}
	return uint32(copy(dest, value)), 0
}

// xattrList encodes names as listxattr(2) does: each NUL-terminated.
func xattrList(dest []byte, names ...string) (uint32, syscall.Errno) {
	var b []byte
	for _, n := range names {
		b = append(append(b, n...), 0)
	}
	return xattrReply(b, dest)
}
