package metainfo

import "errors"

// maxDepth bounds bencode nesting, as libtorrent's decoder does. A v1
// torrent needs 5 levels (top dict, info, files, file dict, path list).
const maxDepth = 100

// errNotDict is returned when the data does not start with a dictionary.
var errNotDict = errors.New("not a torrent file: it does not start with a bencoded dictionary")
