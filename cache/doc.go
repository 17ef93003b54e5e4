// Package cache stores one torrent's pieces on disk, serves only the bytes
// whose SHA-1 has been checked, keeps the data within a byte budget by
// evicting the least recently used verified pieces, and remembers across
// restarts what it holds.
//
// # Layout
//
// The backing files mirror the torrent's own files at their safe metainfo
// paths under Options.Dir: a single-file torrent is Dir/<Name>, a
// multi-file torrent is Dir/<Name>/<Path...>. Zero-length files are
// created; pad files (BEP 47) are never created, they read and hash as
// zeros. This layout was chosen over a slot file of piece-sized cells for
// two reasons: a finished download is an ordinary download that stays
// usable after torfs exits, and every read of a torrent file is a
// contiguous range of one backing file, which the FUSE layer can splice
// to the kernel without copying (see Cache.Path).
//
// With Budget 0 (unlimited) the files are preallocated with fallocate
// (truncate where the filesystem cannot) so that pieces arriving out of
// order do not fragment them and a full disk shows up at Open rather than
// in the middle of a download. With a budget the files are sparse: a piece
// takes disk blocks only while it is held, and evicting it punches a hole
// (FALLOC_FL_PUNCH_HOLE) over its range. A budget of at least the
// torrent's length keeps everything like 0 does, with sparse files: the
// cache then never evicts or punches, so it cannot destroy data it did not
// write (torfs seed over a user's files).
//
// # Budget accounting
//
// A piece is charged for every filesystem block its bytes touch, its range
// rounded out to the block size in each backing file it covers, so a block
// shared by two neighbouring pieces is charged to both while both are held
// and freed only once neither is. Charges are made when a piece's first
// block is written (a reservation) and released when the piece is evicted
// or dropped, so the blocks of piece data on disk (st_blocks) never exceed
// the budget. Pieces being written, verified, proven or read are pinned
// and never evicted; when they alone fill the budget, WriteBlock fails
// with ErrBudget instead of waiting.
//
// # Writing and hashing
//
// Small blocks that continue each other are gathered in memory
// (write-behind, 256 KiB per piece, at most 64 pieces at once) and
// written with one pwrite, because the kernel's cost per byte is much
// higher for 16 KiB writes than for 256 KiB ones. A run is written out
// when the next write does not continue it, when it fills its buffer,
// and at the latest by Verify, before Verify reads the whole piece back
// and hashes it: the cache judges the bytes on disk, whatever the history
// of writes. The writes of one piece are serialized; different pieces go
// in parallel. Bytes gathered in memory and lost in a crash belong to a
// piece that was not verified, which the next Open does not trust anyway.
//
// # Resume
//
// With Options.StateFile set, the cache records which pieces are verified
// and, per backing file, its size and modification time, in a file that is
// replaced atomically (temp file, fsync, rename) every 30 s when something
// changed and on Close. Only the state Close writes, after flushing the
// backing files to disk, is marked clean; Open marks it unclean again at
// once. On Open, verified pieces of a clean state whose files are
// unchanged are trusted; after a crash, or for files changed behind the
// cache's back, they become unproven: present on disk but not served until
// Prove hashes them again. Without a state file, every piece whose files
// already exist and are long enough is unproven, which is how a seeder
// checks existing data (ProveAll).
package cache
