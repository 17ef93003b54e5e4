// Package cache stores one torrent's pieces on disk, serves only the bytes
// whose SHA-1 has been checked, keeps the data within a byte budget by
// evicting verified pieces its readers do not need, and remembers across
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
// contiguous range of one backing file. (The FUSE layer copies those
// bytes rather than splicing the backing file to the kernel: on warm
// reads splice measured slower, about 0.8x, and cannot carry 1 MiB
// reads.)
//
// With Budget Unlimited the files are preallocated with fallocate
// (truncate where the filesystem cannot) so that pieces arriving out of
// order do not fragment them and a full disk shows up at Open rather than
// in the middle of a download. With a byte budget the files are sparse: a
// piece takes disk blocks only while it is held, and evicting it punches
// a hole (FALLOC_FL_PUNCH_HOLE) over its range. Budget Keep, or a byte
// budget of at least the torrent's length, keeps everything like
// Unlimited does, with sparse files: the cache then never evicts or
// punches, so it cannot destroy data it did not write (torfs seed over a
// user's files).
//
// # Budget accounting
//
// A piece is charged for every filesystem block its bytes touch, its range
// rounded out to the block size in each backing file it covers, so a block
// shared by two neighbouring pieces is charged to both while both are held
// and freed only once neither is. Charges are made when a piece's first
// block is written (a reservation) and released when the piece is evicted
// or dropped, so the bytes charged never exceed the budget.
//
// Freeing the blocks is left to the cache's punch worker, one goroutine
// that punches the queued holes in order (those that touch in one
// fallocate), so that a Reserve never waits for the punches of its
// evictions: a downloader reserves while it picks pieces, with its own
// lock held, and an ext4 punch can wait for the disk. Instead
// a reserved piece's first write waits until the bytes charged plus the
// holes still queued fit the budget, so the blocks of piece data on disk
// (st_blocks) never exceed the budget either. To keep writes from
// waiting for the worker, each reservation evicts ahead of need, when
// pieces of the two lowest tiers (below) allow, up to 8 MiB of pieces,
// or four pieces if they are bigger (at most an eighth of the budget,
// none under eight pieces), more than it needs: the cache then keeps
// that much of its budget free, and the next pieces find the room
// already punched. The worker waits until half of that (at most 4 MiB)
// is queued, or until a write waits for it, and punches it in one call: a
// punch holds the file's lock, which the writes of new pieces to the
// same file wait for, and much of its cost is per call, not per byte
// (ext4 without a journal, mounted with discard, also waits for the disk
// to discard the range), so few large punches keep the writers waiting
// less than a punch per eviction. A full disk has the queue punched at
// once before it measures the space left. A hole is never punched over bytes of a
// piece that is present: it leaves out the edge blocks of pieces present
// when it is queued, and a piece that becomes present afterwards (one
// evicted and reserved again, or a neighbour sharing an edge block)
// writes nothing until the queued holes over its blocks are punched. The
// journal records each eviction before its hole is queued. Close waits
// for the queue to empty.
//
// Pieces being written, verified, proven or read are pinned
// and never evicted; when they alone fill the budget, WriteBlock fails
// with ErrBudget instead of waiting. A downloader calls Reserve before it
// asks peers for a piece, so that it asks only for pieces there is room
// for.
//
// # Eviction: reader-aware LRU
//
// The policy is a reader-aware LRU. The cache's user says what its
// readers want (SetDemand): the pieces under reads in flight, each read's
// next piece first, the readahead windows, and where the readers are.
// Held pieces fall into tiers, evicted in this order:
//
//   - behind every reader and outside every window and read: least
//     recently used first;
//   - the rest that nobody wants now (ahead of a reader but past its
//     window, or wanted by nobody): least recently used first;
//   - in a readahead window, fetched and not read yet: farthest first;
//   - under a read in flight, after the piece it needs next: farthest
//     first;
//   - the piece a read in flight needs next: never.
//
// A piece takes room only from lower tiers than its own: a readahead
// piece, or a piece nobody wants, only from the first two, so readahead
// never pushes out what readers need; a piece under a read also from
// windows; the piece a read needs next from everything but other reads'
// next pieces. When that cannot make room Reserve fails with ErrBudget,
// evicting nothing. Without SetDemand every piece is behind: plain LRU.
// Each eviction is reported to the OnEvict function, outside the cache's
// locks, so the user never believes it holds a piece it lost.
//
// # One budget for several caches
//
// Caches opened with the same Options.Pool (the torrents of one mount)
// share its budget: the sum of their charges stays within it, and room
// for a piece of any of them is made by the policy above applied to the
// pieces of all of them, each ranked by its own cache's readers, and
// least recently used first across the caches (a pool-wide clock stamps
// every use). So a torrent nobody reads gives up its pieces to one that
// is being read. A closed cache leaves the pool with its charge.
//
// # Hashing
//
// A piece is hashed as it is written: each piece being written has a
// running SHA-1 that WriteBlock feeds with the bytes extending the piece's
// contiguous prefix while they are still in the CPU cache, and with the
// bytes written earlier out of order, read back from disk, once the
// prefix reaches them. Verify then reads back and hashes only what is
// left, usually nothing, instead of the whole piece.
//
// In-order bytes are copied into 256 KiB write-behind buffers and hashed
// there. A full buffer goes to the cache's flusher goroutine, which
// writes it (one pwrite: the kernel's cost per byte is much higher for
// 16 KiB writes) while the writer hashes the next bytes, on another core
// when there is one. At most four buffers wait for the flusher; a writer
// that finds the queue full waits. The buffer that ends a piece is handed
// over by the next write instead (at most four wait so), so that a
// Verify coming at once writes it without waking the flusher. Verify
// writes any of the piece's buffers the flusher has not taken yet itself,
// waits for the others, and returns only once every byte of the piece is
// on disk (in the page cache), reporting any write error: a verified
// piece is always readable. So a caller that writes each piece from one
// goroutine, in order, makes Verify cost a compare plus what the flusher
// has not done yet, and one that verifies on another goroutine, as
// fetch's hash workers do, never waits for the disk (fetch's writer
// goroutines, not the connections' receive loops, call WriteBlock, since
// hashing on the receive loop slowed torfs get).
//
// In a cache that keeps everything, every writebackChunk (8 MiB)
// written, a goroutine of its own starts the kernel's writeback of the
// backing files written since
// (sync_file_range with SYNC_FILE_RANGE_WRITE, which queues the dirty
// pages for the disk without waiting for them). Left alone, the kernel
// would start only once a tenth of the memory is dirty, and the fsync of
// the next save, or of Close at the end of a download, would wait for the
// disk to write everything at once. The writers never make that call,
// which can block while the disk's queue is full; it promises nothing
// about durability either, which stays with the fsyncs of the journal and
// of the saves (see Resume). A cache that evicts, on ext4 with its
// journal on the same file system (holdsDirty), does the opposite: it
// leaves a verified piece in memory for half a second (recordAfter)
// before the journal writes it to disk, so that the pieces a small
// cache streams through are evicted first and dropped from memory by
// their punch; where the punch does not write dirty pages back first
// (ext4 on Linux 6.18, measured) they are never written to the disk
// nor discarded from it.
//
// Every write of a piece and its effect on the running hash happen under
// a lock of that piece alone, so the hash always describes the bytes the
// cache wrote, and a write into the prefix already hashed waits for the
// piece's queued buffers and starts the hash over from the disk. The
// cache computes every hash itself; none is ever taken from a caller.
// The price: bytes hashed from memory are not read back, so another
// process overwriting a backing file between a block's write and its
// piece's Verify goes unnoticed; Prove, as after a crash, hashes what is
// on disk.
//
// # Resume
//
// With Options.StateFile set, the cache records which pieces are verified
// and, per backing file, its size and modification time, in a state file
// that is replaced atomically (temp file, fsync, rename) every
// SaveInterval when something changed and on Close. Between two saves a
// journal next to it (see journal.go) records each piece as it verifies,
// in batches at most a quarter of a second later (three quarters in a
// cache that holds pieces in memory) and only once the piece's bytes have been flushed
// to disk, and each piece leaving the disk
// before its hole is punched; a torn tail is detected by checksums and
// ignored. A save flushes the backing files, folds the journal in and
// starts a new one.
//
// Only the state Close writes is marked clean; Open marks it unclean
// again at once. On Open, verified pieces of a clean state whose files
// are unchanged are trusted. After a crash, the pieces the state and its
// journal vouch for are trusted if their ranges hold no hole (an eviction
// whose record a power cut lost); any other data on disk is freed, and
// pieces that were unproven stay unproven: present on disk but not served
// until Prove hashes them again. A state written by a version without the
// journal trusts nothing after a crash; files changed behind the cache's
// back after a clean Close are unproven too. Without a state file,
// every piece whose files already exist and are long enough is unproven,
// which is how a seeder checks existing data (ProveAll).
package cache
