// Package harness starts and stops the real programs torfs's end-to-end
// tests and benchmarks talk to: libtorrent peers (Debian's
// python3-libtorrent driven by an embedded script), aria2 (Aria2Get),
// Transmission (StartTransmission, driven over its RPC), opentracker,
// redis-server, and torfs itself, all on loopback. Every helper that takes
// a testing.TB registers cleanup that stops its processes and removes its
// files even when the test fails, logs their output when it does, and
// bounds every wait; the Launch/Write/Create variants serve programs
// without a testing.TB (benchmarks under bench/).
//
// A test reads as a story:
//
//	func TestGetFromLibtorrent(t *testing.T) {
//		// A 16 MiB file and its torrent, made by mktorrent.
//		src := t.TempDir()
//		harness.RandomFile(t, filepath.Join(src, "film.mkv"), 16<<20, 1)
//		torrent := harness.MakeTorrent(t, filepath.Join(src, "film.mkv"), harness.TorrentOptions{})
//
//		// libtorrent seeds it.
//		seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{
//			Mode: harness.Seed, Torrent: torrent, Save: src,
//		})
//		ctx := harness.Context(t, time.Minute)
//		if err := seed.WaitFinished(ctx); err != nil { // data checked
//			t.Fatal(err)
//		}
//
//		// torfs downloads it from that seeder alone.
//		torfs := harness.BuildTorfs(t)
//		out := t.TempDir()
//		harness.RunTorfs(t, torfs, "get", "-o", out, "--peer", seed.Addr(), torrent)
//		harness.AssertSameFile(t, filepath.Join(src, "film.mkv"), filepath.Join(out, "film.mkv"))
//
//		// ...and libtorrent saw torfs take the bytes.
//		for _, p := range seed.Peers() {
//			t.Logf("%s %s took %d bytes", p.Addr, p.Client, p.BytesSent)
//		}
//	}
//
// A test binary builds torfs once when its TestMain uses Main:
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
//
// libtorrent runs as lt.py (embedded, run by /usr/bin/python3) with
// settings for loopback: TCP only, no DHT/LSD/UPnP/NAT-PMP, no encryption,
// several connections per IP, loopback trackers allowed, no rate limits
// unless asked. It reports JSON events (listening, status with peers,
// finished, tracker replies, errors) that Libtorrent turns into Status,
// Peers (with the bytes exchanged with each, counted per block, to prove
// who traded with whom), WaitFinished and WaitStatus.
//
// The reference for throughput goals is MeasureLibtorrentDownload; the
// same figure for this machine comes from
//
//	go test -run '^$' -bench LibtorrentReference -benchtime 1x ./integration/
//
// Tests across an emulated WAN (delay, loss, a rate limit; see
// internal/netemu) take two network namespaces from netemutest.New and
// start their peers inside them: StartLibtorrentIn for libtorrent,
// InNetns around a Command for torfs and other programs.
//
// The programs come from Debian packages (python3-libtorrent, opentracker,
// mktorrent, redis-server, fuse3, aria2, transmission-daemon); Require fails a test, rather than
// skipping it, when one is missing and says how to install them.
package harness
