#!/usr/bin/env bash
# Installs the Debian packages torfs's tests use, only when something is missing.
# Safe to run repeatedly; needs root (or sudo) only when it has to install.
set -euo pipefail

pkgs=(mount mktorrent fuse3 python3-libtorrent opentracker redis-server aria2 transmission-daemon iproute2 miniupnpd-nftables nftables chromium ffmpeg rclone)
need=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    need+=("$p")
  fi
done
[ ${#need[@]} -eq 0 ] && exit 0

echo "installing test dependencies: ${need[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts redis-server, opentracker and transmission-daemon as services;
# tests start their own instances on loopback ports, so the system ones are not
# needed.
for svc in redis-server opentracker transmission-daemon; do
  $sudo systemctl stop "$svc" >/dev/null 2>&1 || $sudo service "$svc" stop >/dev/null 2>&1 || true
done
