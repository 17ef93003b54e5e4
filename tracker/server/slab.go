package server

import (
	"fmt"
	"syscall"
	"unsafe"
)

// slab holds fixed-size, pointer-free records outside the Go heap, in
// chunks mapped straight from the kernel. A tracker's memory is almost
// all peer records; kept on the heap they would count towards the
// garbage collector's heap goal and so cost twice their size in resident
// memory (GOGC=100) for no benefit, since they hold no pointers. Blocks
// come in size classes about 25% apart and freed blocks are reused, so
// swarms that grow and shrink do not fragment the chunks much.
//
// A slab is not safe for concurrent use: each MemoryStore shard owns one
// and uses it under the shard's lock.
type slab[T any] struct {
	chunks [][]byte
	used   int                // bytes handed out of the last chunk
	free   [numClasses]uint32 // per class: ref of the first free block, 0 = none
	// freeRecords counts records in free blocks: a swarm that grows
	// leaves its smaller blocks behind, and when no other swarm needs
	// that size they are waste that only compaction gets back.
	freeRecords int
	// idx are the indexes of the slab's big swarms.
	idx indexTable
}

// blockRef names a block: the chunk index in the high bits, the record
// offset within the chunk in the low ones, plus one so that 0 means none.
type blockRef uint32

const (
	slabChunkRecords = 1 << 15 // records per chunk: under 1 MiB of IPv4 records
	slabChunkShift   = 15
)

// classCaps are the block capacities, in records. The largest is the most
// peers one swarm keeps per address family.
var classCaps = [...]uint32{
	1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 19, 24, 30, 38, 48, 60, 75, 94, 118, 148, 185, 232, 290,
	363, 454, 568, 710, 888, 1110, 1388, 1735, 2169, 2712, 3390, 4238, 5298, 6623, 8279,
	10349, 12936, 16170, 20213, 25266, 32768,
}

const numClasses = len(classCaps)

// maxSwarmRecords is the most records one block holds.
const maxSwarmRecords = slabChunkRecords

func classFor(n uint32) int {
	for c, capacity := range classCaps {
		if capacity >= n {
			return c
		}
	}
	return -1
}

func (s *slab[T]) recSize() int {
	var zero T
	return int(unsafe.Sizeof(zero))
}

// records returns the n records of block ref as a slice into the chunk.
func (s *slab[T]) records(ref blockRef, n uint32) []T {
	if ref == 0 || n == 0 {
		return nil
	}
	r := uint32(ref - 1)
	chunk := s.chunks[r>>slabChunkShift]
	off := int(r&(slabChunkRecords-1)) * s.recSize()
	return unsafe.Slice((*T)(unsafe.Pointer(&chunk[off])), n)
}

// alloc returns a block of class c.
func (s *slab[T]) alloc(c int) (blockRef, error) {
	if ref := s.free[c]; ref != 0 {
		s.free[c] = *s.nextFree(blockRef(ref))
		s.freeRecords -= int(classCaps[c])
		return blockRef(ref), nil
	}
	size := int(classCaps[c]) * s.recSize()
	chunkSize := slabChunkRecords * s.recSize()
	if len(s.chunks) == 0 || s.used+size > chunkSize {
		// The tail of the old chunk is lost to fragmentation; it is
		// smaller than the largest class.
		if len(s.chunks) >= 1<<(32-slabChunkShift)-1 {
			return 0, fmt.Errorf("tracker peer storage is full")
		}
		mem, err := syscall.Mmap(-1, 0, chunkSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			return 0, fmt.Errorf("tracker cannot map memory for peers: %w", err)
		}
		// Without this, transparent huge pages back a chunk with 2 MiB
		// pages as soon as a few records are written, and a shard that
		// holds 100 KiB of peers costs megabytes of resident memory.
		syscall.Madvise(mem, syscall.MADV_NOHUGEPAGE)
		s.chunks = append(s.chunks, mem)
		s.used = 0
	}
	ref := blockRef(uint32(len(s.chunks)-1)<<slabChunkShift|uint32(s.used/s.recSize())) + 1
	s.used += size
	return ref, nil
}

// nextFree is the free-list link stored in a free block's first bytes.
func (s *slab[T]) nextFree(ref blockRef) *uint32 {
	r := uint32(ref - 1)
	chunk := s.chunks[r>>slabChunkShift]
	off := int(r&(slabChunkRecords-1)) * s.recSize()
	return (*uint32)(unsafe.Pointer(&chunk[off]))
}

// release returns block ref of class c to its free list.
func (s *slab[T]) release(ref blockRef, c int) {
	if ref == 0 {
		return
	}
	*s.nextFree(ref) = s.free[c]
	s.free[c] = uint32(ref)
	s.freeRecords += int(classCaps[c])
}

// wasteful reports whether free blocks hold over an eighth of the records
// ever handed out (and enough of them to matter): then compacting pays
// for itself.
func (s *slab[T]) wasteful() bool {
	if s.freeRecords < 1024 || len(s.chunks) == 0 {
		return false
	}
	handedOut := (len(s.chunks)-1)*slabChunkRecords + s.used/s.recSize()
	return s.freeRecords*8 > handedOut
}

// close unmaps every chunk; the slab must not be used afterwards.
func (s *slab[T]) close() {
	for _, c := range s.chunks {
		syscall.Munmap(c)
	}
	s.chunks = nil
}
