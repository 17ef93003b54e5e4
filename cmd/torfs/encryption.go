package main

// encryptionFlagHelp is the --encryption entry of --help texts (the flag
// is a swarmFlags field).
const encryptionFlagHelp = `  --encryption MODE  MSE/PE, the encrypted handshake of libtorrent,
                     Transmission, qBittorrent and Vuze: prefer (default:
                     encrypt when the peer can, else plaintext), require
                     (RC4-encrypted connections only) or off (plaintext
                     only)
`
