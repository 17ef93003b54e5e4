package cache

import (
	"encoding/json"
	"testing"
)

// FuzzParseState feeds arbitrary bytes to the state file decoder: it must
// never panic, and whatever it accepts must fit the torrent, so that
// restoring from it cannot index out of range.
func FuzzParseState(f *testing.F) {
	const id, npieces, nfiles = "abc", 11, 3
	valid, err := json.Marshal(&state{
		Version: stateVersion, Torrent: id, Clean: true,
		Verified: []byte{0xff, 0xe0}, Unproven: make([]byte, 2), Partial: make([]byte, 2),
		Files: make([]fileRecord, nfiles),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"version":1,"torrent":"abc","clean":true,"verified":"//8=","files":[]}`))
	f.Add([]byte(`{"version":1,"torrent":"abc","verified":null,"files":[{"size":-1,"mtime":0}]}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseState(data, id, npieces, nfiles)
		if err != nil {
			return
		}
		if len(st.Files) != nfiles {
			t.Fatalf("accepted %d file records for %d files", len(st.Files), nfiles)
		}
		for p := range npieces {
			bitSet(st.Verified, p)
			bitSet(st.Unproven, p)
			bitSet(st.Partial, p)
		}
		if len(st.Verified)*8 < npieces || len(st.Unproven)*8 < npieces || len(st.Partial)*8 < npieces {
			t.Fatal("accepted bitfields shorter than the piece count")
		}
	})
}
