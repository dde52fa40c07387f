#!/usr/bin/env bash
# Measures a 2 GiB object copied local -> S3 and S3 -> S3 across two different servers:
# wall time, throughput and ferry's peak RSS (GNU time), and checks the bytes arrived intact.
#
#   bash scripts/measure-big-copy.sh [SIZE_MIB]     (default 2048)
#
# Servers: two ferry-test-s3 processes (s3s + s3s-fs, real HTTP + SigV4) on free loopback
# ports, each with its own folder. Needs /usr/bin/time (Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-2048}
source scripts/build-env.sh
release_build --quiet -p ferry-cli -p ferry-tests --bins
bin="$CARGO_TARGET_DIR/release"
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-big.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Started in this shell (not in $(...)) so cleanup knows their PIDs.
start_server() {
  "$bin/ferry-test-s3" "$work/$1" 127.0.0.1:0 AKIA"${1^^}" "secret-$1" >"$work/$1.url" 2>"$work/$1.log" &
  pids+=($!)
  for _ in $(seq 1 50); do [ -s "$work/$1.url" ] && break; sleep 0.1; done
}
url_of() { head -1 "$work/$1.url"; }
start_server a
start_server b
url_a=$(url_of a)
url_b=$(url_of b)
export FERRY_CONFIG_DIR="$work/cfg"
"$bin/ferry" -q alias set a "$url_a" AKIAA secret-a
"$bin/ferry" -q alias set b "$url_b" AKIAB secret-b
"$bin/ferry" -q mb a/big
"$bin/ferry" -q mb b/big

echo "generating ${size_mib} MiB of random data..."
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/object.bin"
want=$(sha256sum "$work/object.bin" | cut -d' ' -f1)

measure() { # label, ferry args...
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$bin/ferry" -q "$@"
  read -r secs rss_kib <"$work/time"
  local mbps
  mbps=$(python3 -c "print(f'{$size_mib*1.048576/$secs:.0f}')")
  printf '| %-28s | %8s | %6s MB/s | %6s MiB |\n' "$label" "$secs" "$mbps" "$((rss_kib / 1024))"
}

echo
echo "| copy (${size_mib} MiB, one object) | wall s | throughput | peak RSS |"
echo "|---|---|---|---|"
measure "local -> S3 (server a)" cp "$work/object.bin" a/big/object.bin
measure "S3 a -> S3 b (streamed)" cp a/big/object.bin b/big/object.bin
rm -f "$work/object.bin"   # keep disk use down before the last copy
measure "S3 b -> local" cp b/big/object.bin "$work/back.bin"

got_b=$(sha256sum "$work/b/big/object.bin" | cut -d' ' -f1)
got_back=$(sha256sum "$work/back.bin" | cut -d' ' -f1)
if [ "$got_b" = "$want" ] && [ "$got_back" = "$want" ]; then
  echo; echo "sha256 intact at server b and back locally: $want"
else
  echo "MISMATCH: want $want, server b $got_b, local $got_back" >&2
  exit 1
fi
