// Package mse speaks Message Stream Encryption (MSE, also called Protocol
// Encryption or PE): the obfuscating handshake that libtorrent,
// Transmission, qBittorrent, uTorrent and Vuze put in front of the
// BitTorrent handshake so that a peer which requires encryption will talk
// to us.
//
// Initiate runs the connecting side and Accept the accepting side; both
// return a net.Conn that carries the BitTorrent protocol after the
// handshake, RC4-encrypted or in plaintext as the two sides chose. Accept
// also recognizes a peer that skipped MSE and sent a plain BitTorrent
// handshake, and gives those bytes back on the returned connection.
//
// Everything a peer sends is bounded: padding at most 512 bytes, the
// initial payload at most MaxInitialPayload bytes, the synchronization
// searches to the windows the specification allows, and the whole
// handshake to a deadline (the context's, or DefaultTimeout).
package mse
