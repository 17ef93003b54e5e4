#!/usr/bin/python3
"""libtorrent driver for torfs's integration tests and benchmarks.

Run with /usr/bin/python3 (Debian's python3-libtorrent 2.0). Seeds or leeches
one torrent on loopback with TCP only and prints one JSON object per line on
stdout: "listening" (bound ports), "status" (every --interval seconds, with the
connected peers), "finished", tracker and peer events, "error", and "stopped".
Reads commands from stdin, one per line: "connect HOST:PORT" dials a peer,
"dht-announce" announces the torrent to the DHT now (with --dht-bootstrap).
Exits cleanly on SIGTERM, SIGINT or when stdin reaches EOF (so a parent that
dies takes it along), or after finishing with --exit-on-complete.
"""

import argparse
import json
import os
import queue
import select
import signal
import socket
import sys
import threading
import time

import libtorrent as lt

STATES = [
    "queued_for_checking", "checking_files", "downloading_metadata",
    "downloading", "finished", "seeding", "allocating", "checking_resume_data",
]


def emit(event, **fields):
    fields["event"] = event
    fields["t"] = round(time.monotonic() - START, 3)
    sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
    sys.stdout.flush()


START = time.monotonic()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("mode", choices=["seed", "leech"])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--torrent", help=".torrent file")
    src.add_argument("--magnet", help="magnet link: the metadata (and a v2 torrent's piece layers) come from peers")
    p.add_argument("--save", required=True, help="save_path: the directory holding (or receiving) the torrent's name")
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT, port 0 picks one")
    p.add_argument("--ipv6", action="store_true", help="also listen on [::1] (same port when --listen has one)")
    p.add_argument("--peer", action="append", default=[], help="HOST:PORT to connect to (repeatable)")
    p.add_argument("--tracker", action="append", default=[], help="tracker URL to add (repeatable)")
    p.add_argument("--replace-trackers", action="store_true", help="use only --tracker URLs, not the torrent's")
    p.add_argument("--seed-mode", action="store_true", help="seed: trust the data without checking it")
    p.add_argument("--upload-limit", type=int, default=0, help="bytes/s, 0 = unlimited")
    p.add_argument("--download-limit", type=int, default=0, help="bytes/s, 0 = unlimited")
    p.add_argument("--max-connections", type=int, default=500)
    p.add_argument("--exit-on-complete", action="store_true")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between status lines")
    p.add_argument("--utp-only", action="store_true",
                   help="speak uTP only, TCP off (default: TCP only)")
    p.add_argument("--encryption", choices=["off", "forced"], default="off",
                   help="off: plaintext only; forced: MSE/PE with RC4 only, both ways")
    p.add_argument("--no-stdin", action="store_true", help="do not exit when stdin reaches EOF")
    p.add_argument("--no-block-log", action="store_true",
                   help="do not count blocks per peer (bytes_received/bytes_sent); for benchmarks")
    p.add_argument("--dht-bootstrap", action="append", default=[],
                   help="HOST:PORT of a DHT node to bootstrap from (repeatable); enables the DHT for loopback")
    return p.parse_args()


def split_hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def free_dual_port(host):
    # One port free on both host and ::1, so IPv4 and IPv6 peers dial the
    # same number.
    for _ in range(20):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as a:
            a.bind((host, 0))
            port = a.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET6) as b:
                    b.bind(("::1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no port free on both %s and ::1" % host)


def settings(args):
    host, port = split_hostport(args.listen)
    if args.ipv6 and port == 0:
        port = free_dual_port(host)
    ifaces = ["%s:%d" % (host if ":" not in host else "[%s]" % host, port)]
    if args.ipv6:
        ifaces.append("[::1]:%d" % port)
    limited = args.upload_limit > 0 or args.download_limit > 0
    pack = {
        "listen_interfaces": ",".join(ifaces),
        "listen_system_port_fallback": False,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # TCP only, unless --utp-only: then uTP only.
        "enable_outgoing_utp": args.utp_only,
        "enable_incoming_utp": args.utp_only,
        "enable_outgoing_tcp": not args.utp_only,
        "enable_incoming_tcp": not args.utp_only,
        # Every test peer lives on 127.0.0.1.
        "allow_multiple_connections_per_ip": True,
        # Loopback trackers with any path, plain http, every tier.
        "ssrf_mitigation": False,
        "validate_https_trackers": False,
        "announce_to_all_tiers": True,
        "announce_to_all_trackers": True,
        "stop_tracker_timeout": 1,
        "min_announce_interval": 1,
        # Plaintext both ways unless --encryption forced: MSE/PE (policy
        # pe_forced = 0) with RC4 only (pe_rc4 = 2) in and out.
        "out_enc_policy": 0 if args.encryption == "forced" else 2,
        "in_enc_policy": 0 if args.encryption == "forced" else 2,
        "allowed_enc_level": 2 if args.encryption == "forced" else 1,
        "prefer_rc4": args.encryption == "forced",
        # A fair, fast reference: no queuing (torrents are not auto-managed
        # either, so no seed ratio or time limits apply), unlimited unchoke
        # slots, big buffers, rate limits only when asked.
        "connections_limit": max(args.max_connections, 10),
        "active_downloads": -1,
        "active_seeds": -1,
        "active_limit": -1,
        "active_checking": 4,
        "unchoke_slots_limit": -1,
        # Limits are set on the torrent (see main); loopback peers must not
        # be exempt from them.
        "ignore_limits_on_local_network": not limited,
        "rate_limit_ip_overhead": False,
        "send_buffer_watermark": 8 * 1024 * 1024,
        "send_buffer_low_watermark": 1024 * 1024,
        "send_buffer_watermark_factor": 150,
        "max_queued_disk_bytes": 16 * 1024 * 1024,
        "aio_threads": 4,
        "hashing_threads": 2,
        "request_queue_time": 3,
        "max_out_request_queue": 1500,
        "max_allowed_in_request_queue": 2000,
        "user_agent": "torfs-harness/libtorrent-" + lt.__version__,
        "alert_queue_size": 200000,
        "alert_mask": alert_mask(args),
    }
    if args.dht_bootstrap:
        pack.update(dht_settings(args))
    return pack


def dht_settings(args):
    # A private DHT on loopback: every node shares 127.0.0.1, which the
    # default settings treat as one suspicious host.
    return {
        "enable_dht": True,
        "dht_bootstrap_nodes": ",".join(args.dht_bootstrap),
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_prefer_verified_node_ids": False,
        "dht_enforce_node_id": False,
        "dht_read_only": False,
    }


def alert_mask(args):
    c = lt.alert.category_t
    mask = (c.error_notification | c.status_notification | c.storage_notification
            | c.tracker_notification | c.connect_notification)
    if not args.no_block_log:
        # Every block received and sent, with the peer: the proof of who
        # exchanged with whom, even for peers that left long ago.
        mask |= c.block_progress_notification | c.upload_notification
    if args.dht_bootstrap:
        mask |= c.dht_notification
    return mask


def text(b):
    if isinstance(b, bytes):
        return b.decode("utf-8", "replace")
    return str(b)


def addr_str(ep):
    host, port = ep[0], ep[1]
    return "%s:%d" % (host if ":" not in host else "[%s]" % host, port)


def peer_json(p):
    return {
        "addr": addr_str(p.ip),
        "client": text(p.client),
        "peer_id": str(p.pid),
        "seed": bool(p.flags & lt.peer_info.seed),
        "outgoing": bool(p.flags & lt.peer_info.outgoing_connection),
        "total_download": p.total_download,
        "total_upload": p.total_upload,
        "download_rate": p.payload_down_speed,
        "upload_rate": p.payload_up_speed,
        "progress": round(p.progress, 4),
    }


ZERO_ID = "0" * 40


def remember(seen, peers):
    # Peers leave (seeds disconnect from each other once both are done), so
    # keep the last view of every peer met to prove who exchanged with whom.
    for p in peers:
        if p["peer_id"] == ZERO_ID:
            continue  # handshake not done yet
        key = p["peer_id"] + "@" + p["addr"]
        old = seen.get(key, {})
        p["bytes_received"] = old.get("bytes_received", 0)
        p["bytes_sent"] = old.get("bytes_sent", 0)
        seen[key] = p
    return peers


def count_block(seen, ti, a, field):
    size = BLOCK if ti is None else min(BLOCK, ti.piece_size(a.piece_index) - a.block_index * BLOCK)
    key = str(a.pid) + "@" + addr_str(a.endpoint)
    entry = seen.setdefault(key, {"addr": addr_str(a.endpoint), "peer_id": str(a.pid), "client": "",
                                  "bytes_received": 0, "bytes_sent": 0})
    entry[field] += size


BLOCK = 16 * 1024


def poll_pause():
    """Pauses before the next pop_alerts. Not ses.wait_for_alert: its
    Python binding in libtorrent 2.0.8 wraps the alert pointer it returns
    and now and then crashes the process doing so (SIGSEGV in
    caller_py_function_impl<alert const* (*)(session&, int)>, seen under
    load). Polling every 5 ms keeps event times within 5 ms."""
    time.sleep(0.005)


def status_json(h):
    s = h.status()
    return {
        "state": STATES[int(s.state)] if int(s.state) < len(STATES) else str(s.state),
        "progress": round(s.progress, 6),
        "num_pieces": s.num_pieces,
        "total_done": s.total_done,
        "total_wanted": s.total_wanted,
        "download_rate": s.download_payload_rate,
        "upload_rate": s.upload_payload_rate,
        "total_download": s.total_payload_download,
        "total_upload": s.total_payload_upload,
        "num_peers": s.num_peers,
        "num_seeds": s.num_seeds,
        "finished": bool(s.is_finished or s.is_seeding),
        "error": text(s.errc.message()) if s.errc.value() != 0 else "",
    }


def watch_stdin(stop, commands):
    # Commands arrive one per line ("connect HOST:PORT"); EOF means the
    # parent closed its end (or died).
    buf = b""
    try:
        while not stop.is_set():
            r, _, _ = select.select([sys.stdin], [], [], 0.5)
            if not r:
                continue
            data = os.read(sys.stdin.fileno(), 4096)
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                commands.put(line.decode("utf-8", "replace").strip())
    except (OSError, ValueError):
        pass
    stop.set()


def run_command(h, line):
    verb, _, arg = line.partition(" ")
    if verb == "connect" and arg:
        host, port = split_hostport(arg)
        h.connect_peer((host, port), 0)
        emit("command", message=line)
    elif verb == "dht-announce":
        h.force_dht_announce()
        emit("command", message=line)
    elif line:
        emit("error", message="unknown command %r (want: connect HOST:PORT or dht-announce)" % line)


def handle_alerts(ses, h, state):
    if state["ti"] is None and h is not None:
        state["ti"] = h.torrent_file()  # a magnet link's, once its metadata arrived
    for a in ses.pop_alerts():
        if isinstance(a, lt.block_finished_alert):
            count_block(state["seen"], state["ti"], a, "bytes_received")
        elif isinstance(a, lt.block_uploaded_alert):
            count_block(state["seen"], state["ti"], a, "bytes_sent")
        elif isinstance(a, lt.listen_succeeded_alert):
            if a.socket_type == lt.socket_type_t.tcp:
                addr = str(a.address)
                state["ports"].append({"addr": addr, "port": a.port})
        elif isinstance(a, lt.listen_failed_alert):
            emit("error", message="listen failed: " + a.message())
            state["fatal"] = True
        elif isinstance(a, lt.torrent_finished_alert):
            state["finished_at"] = time.monotonic()
        elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert, lt.hash_failed_alert)):
            emit("error", message=a.message())
        elif isinstance(a, lt.tracker_reply_alert):
            emit("tracker_reply", url=a.tracker_url(), tracker_peers=a.num_peers)
        elif isinstance(a, lt.tracker_error_alert):
            emit("tracker_error", message=a.message())
        elif isinstance(a, lt.tracker_warning_alert):
            emit("tracker_warning", message=a.message())
        elif isinstance(a, lt.dht_bootstrap_alert):
            emit("dht_bootstrap")
        elif isinstance(a, lt.dht_reply_alert):
            emit("dht_reply", dht_peers=a.num_peers)
        elif isinstance(a, lt.dht_announce_alert):
            emit("dht_announce", message=a.message())
        elif isinstance(a, lt.peer_connect_alert):
            emit("peer_connect", message=a.message())
        elif isinstance(a, lt.peer_disconnected_alert):
            emit("peer_disconnected", message=a.message())


def main():
    args = parse_args()
    stop = threading.Event()
    commands = queue.Queue()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if not args.no_stdin:
        threading.Thread(target=watch_stdin, args=(stop, commands), daemon=True).start()

    pack = settings(args)
    ses = lt.session(pack)
    state = {"ports": [], "fatal": False, "finished_at": None, "seen": {}, "ti": None}

    # Wait for the listen sockets before announcing anything to anyone.
    want = 2 if args.ipv6 else 1
    deadline = time.monotonic() + 10
    while len(state["ports"]) < want and not state["fatal"] and time.monotonic() < deadline:
        poll_pause()
        handle_alerts(ses, None, state)
    if len(state["ports"]) < want:
        emit("error", message="libtorrent did not open its listen sockets on " + pack["listen_interfaces"])
        return 1
    v4 = [p for p in state["ports"] if ":" not in p["addr"]]
    emit("listening", port=(v4 or state["ports"])[0]["port"], ports=state["ports"], pid=os.getpid(),
         version=lt.__version__)

    if args.magnet:
        ti = None
        atp = lt.parse_magnet_uri(args.magnet)
    else:
        ti = lt.torrent_info(args.torrent)
        atp = lt.add_torrent_params()
        atp.ti = ti
    state["ti"] = ti
    atp.save_path = args.save
    flags = atp.flags & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
    if args.mode == "seed" and args.seed_mode:
        flags |= lt.torrent_flags.seed_mode
    atp.flags = flags
    trackers = [] if args.replace_trackers or ti is None else [e.url for e in ti.trackers()]
    atp.trackers = trackers + [u for u in args.tracker if u not in trackers]
    if args.replace_trackers:
        atp.flags |= lt.torrent_flags.override_trackers
    h = ses.add_torrent(atp)
    added = time.monotonic()
    if args.upload_limit > 0:
        h.set_upload_limit(args.upload_limit)
    if args.download_limit > 0:
        h.set_download_limit(args.download_limit)
    h.set_max_connections(args.max_connections)
    if ti is None:
        emit("added", info_hash=str(h.info_hashes().v1), name=atp.name, size=0, pieces=0, piece_length=0,
             trackers=atp.trackers)
    else:
        emit("added", info_hash=str(h.info_hashes().v1), name=ti.name(), size=ti.total_size(),
             pieces=ti.num_pieces(), piece_length=ti.piece_length(), trackers=atp.trackers)
    for peer in args.peer:
        host, port = split_hostport(peer)
        h.connect_peer((host, port), 0)

    seen = state["seen"]
    announced_finish = False
    next_status = 0.0
    next_check = 0.0
    code = 0
    while not stop.is_set():
        poll_pause()
        handle_alerts(ses, h, state)
        while not commands.empty():
            run_command(h, commands.get())
        now = time.monotonic()
        if now < next_check and not state["fatal"]:
            continue  # status and peer lists are round trips to libtorrent's thread
        next_check = now + 0.05
        st = status_json(h)
        peers = remember(seen, [peer_json(p) for p in h.get_peer_info()])
        if st["finished"] and not announced_finish and st["state"] not in ("checking_files", "queued_for_checking"):
            announced_finish = True
            # Block alerts may trail the state change: collect them first.
            time.sleep(0.05)
            handle_alerts(ses, h, state)
            end = state["finished_at"] or now
            emit("finished", elapsed=round(end - added, 4), peers_seen=list(seen.values()), **st)
            if args.exit_on_complete:
                break
        if now >= next_status:
            next_status = now + args.interval
            emit("status", peers=peers, peers_seen=list(seen.values()), **st)
        if state["fatal"]:
            code = 1
            break
    st = status_json(h)
    peers = remember(seen, [peer_json(p) for p in h.get_peer_info()])
    emit("stopped", peers=peers, peers_seen=list(seen.values()), **st)
    ses.pause()
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # Nobody reads our events any more: the parent is gone.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
