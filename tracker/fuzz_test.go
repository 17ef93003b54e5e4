package tracker

import "testing"

func FuzzParseAnnounceResponse(f *testing.F) {
	f.Add([]byte("d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e"))
	f.Add([]byte("d8:completei1e10:incompletei2e8:intervali60e12:min intervali30e5:peersld2:ip9:127.0.0.17:peer id20:AAAAAAAAAAAAAAAAAAAA4:porti1eee6:peers618:AAAAAAAAAAAAAAAA\x00\x01e"))
	f.Add([]byte("d14:failure reason4:nopee"))
	f.Add([]byte("d5:filesd20:AAAAAAAAAAAAAAAAAAAAd8:completei1e10:downloadedi2e10:incompletei3eeee"))
	f.Add([]byte("99999999999:x"))
	f.Add([]byte("d5:peers2000000000:\x7f\x00\x00\x01\x1a\xe1e")) // bencode bombs
	f.Add([]byte("d2000010000:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseAnnounceResponse(b); err == nil {
			if len(r.Peers) > maxPeers || r.Interval < 0 || r.Complete < 0 {
				t.Fatalf("accepted %q as %+v", b, r)
			}
		}
		ParseScrapeResponse(b)
		parseUDPAnnounceResponse(b, len(b)%2 == 0)
	})
}
