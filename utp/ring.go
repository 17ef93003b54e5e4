package utp

// ring is a growable FIFO of outPackets that reuses its storage, so the
// send path allocates nothing per packet once warmed up.
type ring struct {
	buf        []outPacket
	head, size int
}

func (r *ring) len() int { return r.size }

func (r *ring) at(i int) *outPacket { return &r.buf[(r.head+i)&(len(r.buf)-1)] }

// push appends a slot and returns it for the caller to fill.
func (r *ring) push() *outPacket {
	if r.size == len(r.buf) {
		n := max(64, 2*len(r.buf))
		nb := make([]outPacket, n)
		for i := range r.size {
			nb[i] = *r.at(i)
		}
		r.buf, r.head = nb, 0
	}
	p := r.at(r.size)
	r.size++
	return p
}

func (r *ring) pop() {
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.size--
}

// byteRing is a FIFO of bytes: a connection's unacknowledged send stream
// or its unread receive stream. Its storage is a ring that doubles when
// full, so bytes are copied in once and out once; the slices it replaced
// moved what they held to their front every half buffer (a second copy of
// every byte sent) and grew by a quarter at a time (megabytes copied and
// cleared per connection while its window opened).
type byteRing struct {
	buf  []byte // len is 0 or a power of two
	head int    // index in buf of the first byte
	n    int    // bytes held
}

// minRing is the least storage a byteRing allocates.
const minRing = 4 << 10

func (r *byteRing) len() int { return r.n }

// write appends b.
func (r *byteRing) write(b []byte) {
	if r.n+len(b) > len(r.buf) {
		size := max(minRing, len(r.buf))
		for size < r.n+len(b) {
			size *= 2
		}
		nb := make([]byte, size)
		r.peek(nb[:r.n], 0)
		r.buf, r.head = nb, 0
	}
	tail := (r.head + r.n) & (len(r.buf) - 1)
	k := copy(r.buf[tail:], b)
	copy(r.buf, b[k:])
	r.n += len(b)
}

// peek copies the bytes from off on into dst, as many as dst holds or r
// has, and returns how many.
func (r *byteRing) peek(dst []byte, off int) int {
	if off >= r.n {
		return 0
	}
	dst = dst[:min(len(dst), r.n-off)]
	start := (r.head + off) & (len(r.buf) - 1)
	k := copy(dst, r.buf[start:])
	copy(dst[k:], r.buf)
	return len(dst)
}

// discard drops the first n bytes.
func (r *byteRing) discard(n int) {
	r.n -= n
	r.head = (r.head + n) & (len(r.buf) - 1)
	if r.n == 0 {
		r.head = 0
	}
}

// read moves bytes into dst and returns how many.
func (r *byteRing) read(dst []byte) int {
	n := r.peek(dst, 0)
	r.discard(n)
	return n
}
