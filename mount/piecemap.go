package mount

import (
	"strconv"
	"strings"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/httpserve"
)

// PieceCounts counts a torrent's pieces by state (fetch.PieceStates).
type PieceCounts struct {
	Verified    int `json:"verified"`
	Downloading int `json:"downloading"`
	Wanted      int `json:"wanted"`
	Evicted     int `json:"evicted"`
	Missing     int `json:"missing"`
}

func countPieces(states []byte) PieceCounts {
	var c PieceCounts
	for _, s := range states {
		switch s {
		case fetch.PieceVerified:
			c.Verified++
		case fetch.PieceDownloading:
			c.Downloading++
		case fetch.PieceWanted:
			c.Wanted++
		case fetch.PieceEvicted:
			c.Evicted++
		default:
			c.Missing++
		}
	}
	return c
}

// encodePieceMap run-length encodes piece states for the status page:
// each run of one state is its length in decimal, left out when 1,
// followed by the state's character (v verified, d downloading, w wanted
// by a reader, e evicted, . missing). "3v.2d" is v v v . d d. A map is
// a few bytes while a download goes in order, however many pieces.
func encodePieceMap(states []byte) string {
	var b strings.Builder
	for i := 0; i < len(states); {
		j := i + 1
		for j < len(states) && states[j] == states[i] {
			j++
		}
		if j-i > 1 {
			b.WriteString(strconv.Itoa(j - i))
		}
		b.WriteByte(states[i])
		i = j
	}
	return b.String()
}

// StreamPath is where a file of a torrent is streamed over HTTP
// (httpserve.FilePath).
func StreamPath(infoHash string, path []string) string {
	return httpserve.FilePath(infoHash, path)
}
