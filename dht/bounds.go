package dht

// maxDepth bounds bencode nesting in a KRPC packet: the deepest real field
// ("values" or "want" inside "r" or "a") is at level 3.
const maxDepth = 8
