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
