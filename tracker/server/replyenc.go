package server

import "strconv"

// appendBencode appends r as zeebo/bencode encodes it (keys in byte
// order, peers6 omitted when empty), without reflection. On an announce
// over a fresh connection zeebo's reflective encoder was about a fifth of
// the tracker's CPU time; this is the one answer on that path, and a test
// and a fuzz target hold it byte-identical to zeebo's output.
func (r *compactReply) appendBencode(b []byte) []byte {
	b = append(b, 'd')
	b = appendIntKey(b, "8:complete", int64(r.Complete))
	b = appendIntKey(b, "10:downloaded", int64(r.Downloaded))
	b = appendIntKey(b, "10:incomplete", int64(r.Incomplete))
	b = appendIntKey(b, "8:interval", r.Interval)
	b = appendIntKey(b, "12:min interval", r.MinInterval)
	b = appendBytesKey(b, "5:peers", r.Peers)
	if len(r.Peers6) > 0 {
		b = appendBytesKey(b, "6:peers6", r.Peers6)
	}
	return append(b, 'e')
}

// appendIntKey appends an encoded key and the integer v.
func appendIntKey(b []byte, key string, v int64) []byte {
	b = append(append(b, key...), 'i')
	return append(strconv.AppendInt(b, v, 10), 'e')
}

// appendBytesKey appends an encoded key and the byte string v.
func appendBytesKey(b []byte, key string, v []byte) []byte {
	b = strconv.AppendInt(append(b, key...), int64(len(v)), 10)
	return append(append(b, ':'), v...)
}
