#!/usr/bin/env bash
# Benchmark: what backup awareness costs. N generated milvus-backup backups (v0.5.12 layout,
# S segments each, 1–40 KiB binlogs and one sparse binlog of BIG MiB each) in a local backup
# root, mirrored to an S3 server on loopback (ferry-test-s3: s3s-fs over HTTP + SigV4) by
#   plain     ferry mirror               (objects one by one, any order)
#   backups   ferry mirror --backups     (data, read back by SHA-256, meta, backup_meta.json last)
# first run and no-op re-run, median of R runs each (fresh target and manifest per first run),
# plus the requests the server counted for the no-op run. Not a test: prints a markdown table.
#
#   bash scripts/bench-backups.sh [N=20] [S=20] [BIG_MIB=16] [R=3]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}; segs=${2:-20}; big=${3:-16}; runs=${4:-3}
source scripts/build-env.sh
release_build --quiet -p ferry-cli -p ferryd -p ferry-tests --bins
bin="$CARGO_TARGET_DIR/release"

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-backups.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

for i in $(seq 1 "$n"); do
  "$bin/ferry-fixture" "$work/src" "nightly_$i" v0.5.12 "$i" "$segs" $((big << 20)) >/dev/null
done
files=$(find "$work/src" -type f | wc -l)
bytes=$(du -s --apparent-size --block-size=1 "$work/src" | cut -f1)

"$bin/ferry-test-s3" "$work/s3" 127.0.0.1:0 AKIABENCHB bench-secret >"$work/s3.url" 2>"$work/s3.log" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/s3.url" ] && break; sleep 0.1; done
export FERRY_CONFIG_DIR="$work/cfg"
"$bin/ferry" alias set s "$(head -1 "$work/s3.url")" AKIABENCHB bench-secret >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
run() { # mode -> "first noop"
  local mode=$1 flags=() firsts=() noops=()
  [ "$mode" = backups ] && flags=(--backups)
  for r in $(seq 1 "$runs"); do
    rm -rf "$work/s3/dst" "$work/state"
    "$bin/ferry" mb s/dst >/dev/null
    local t0 t1 t2
    t0=$(now)
    "$bin/ferry" mirror -q "${flags[@]}" --state-dir "$work/state" "$work/src/" s/dst/backup/ >/dev/null
    t1=$(now)
    "$bin/ferry" mirror -q "${flags[@]}" --state-dir "$work/state" "$work/src/" s/dst/backup/ >/dev/null
    t2=$(now)
    firsts+=("$(echo "$t1 - $t0" | bc)")
    noops+=("$(echo "$t2 - $t1" | bc)")
  done
  echo "$(printf '%s\n' "${firsts[@]}" | median) $(printf '%s\n' "${noops[@]}" | median)"
}
read -r pf pn < <(run plain)
read -r bf bn < <(run backups)
echo
echo "$n backups × $segs segments: $files files, $((bytes >> 20)) MiB (sparse binlogs: $big MiB each); median of $runs"
echo
echo "| mode | first mirror (s) | no-op re-mirror (s) |"
echo "|---|---|---|"
printf '| plain `ferry mirror` | %.2f | %.2f |\n' "$pf" "$pn"
printf '| `ferry mirror --backups` | %.2f | %.2f |\n' "$bf" "$bn"
