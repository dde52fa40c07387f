#!/usr/bin/env bash
# Azure rows of the benchmark suite (issue 19): ferry against rclone's azureblob backend, both
# writing into Azurite (the Azure Storage emulator, a real Blob REST server with Shared Key
# signatures) in the same run. Not part of `cargo test`.
#
#   bash tests/bench/azure.sh [RUNS] [WORKLOADS]    (defaults: 3, A1,A2,A3,A4)
#
# A1  10 000 x 64 KiB: local -> Azurite              objects/s
# A2  10 000 x 64 KiB: S3 (ferry-test-s3) -> Azurite
# A3  one 2 GiB object: local -> Azurite             MB/s
# A4  one 2 GiB object: S3 -> Azurite
# Each tool gets identical data and its own empty container per run; a run is timed with
# /usr/bin/time (wall seconds, peak RSS, CPU seconds); tables print medians of RUNS runs.
# rclone runs A1/A2 with the best --transfers of 16/32/64 (one trial run each), and its
# defaults for single large blobs (4 MiB blocks, 16 at once); ferry with its defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
workloads=${2:-A1,A2,A3,A4}
want() { [[ ",$workloads," == *",$1,"* ]]; }
source scripts/build-env.sh
release_build --quiet -p ferry-cli -p ferry-tests --bins
bin="$CARGO_TARGET_DIR/release"
bash scripts/setup.sh >/dev/null
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
azurite=$(command -v azurite-blob || echo "$HOME/.local/bin/azurite-blob")

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-azure-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- servers ---------------------------------------------------------------------------
account=devstoreaccount1
key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
az_port=$(free_port)
az_pid=""
# start_azurite: a new Azurite on $az_port over an empty folder. Azurite keeps the extents of
# deleted containers on disk until its own collection runs, so each run gets a fresh one
# (2 GiB per tool and run would otherwise fill the disk).
start_azurite() {
  if [ -n "$az_pid" ]; then kill "$az_pid" 2>/dev/null || true; wait "$az_pid" 2>/dev/null || true; fi
  rm -rf "$work/azurite"
  "$azurite" --blobHost 127.0.0.1 --blobPort "$az_port" --location "$work/azurite" \
    --disableTelemetry --skipApiVersionCheck --loose --silent >>"$work/azurite.log" 2>&1 &
  az_pid=$!
  pids+=("$az_pid")
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$az_port") 2>/dev/null && return; sleep 0.2; done
  echo "Azurite did not start on port $az_port" >&2; exit 1
}
start_azurite
az_url="http://127.0.0.1:$az_port/$account"
"$bin/ferry-test-s3" "$work/srv-a" 127.0.0.1:0 AKA SKA >"$work/a.url" 2>"$work/a.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/a.url" ] && (exec 3<>"/dev/tcp/127.0.0.1/$az_port") 2>/dev/null && break; sleep 0.2; done
url_a=$(head -1 "$work/a.url")

export FERRY_CONFIG_DIR="$work/ferry-cfg"
"$bin/ferry" -q alias set a "$url_a" AKA SKA
"$bin/ferry" -q alias set az "$az_url" "$account" "$key" --api azure
export RCLONE_CONFIG="$work/rclone.conf"
cat >"$RCLONE_CONFIG" <<EOF
[a]
type = s3
provider = Other
endpoint = $url_a
access_key_id = AKA
secret_access_key = SKA
force_path_style = true

[az]
type = azureblob
account = $account
key = $key
endpoint = $az_url
EOF

# --- measuring -------------------------------------------------------------------------
results="$work/results"
: >"$results"
# run KEY CMD... : appends "KEY|seconds|rss_mib|cpu_s" to $results
run() {
  local key=$1; shift
  /usr/bin/time -f '%e %M %U %S' -o "$work/time" "$@" >"$work/out" 2>&1 || {
    echo "FAILED: $key: $*" >&2; tail -5 "$work/out" >&2; exit 1; }
  read -r secs rss usr sys <"$work/time"
  local cpu; cpu=$(echo "$usr + $sys" | bc)
  echo "$key|$secs|$((rss / 1024))|$cpu" >>"$results"
  echo "  $key: ${secs}s, $((rss / 1024)) MiB, cpu ${cpu}s" >&2
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { grep "^$1|" "$results" | cut -d'|' -f"$2"; }
med() { field "$1" 2 | median; }
maxrss() { field "$1" 3 | sort -n | tail -1; }
medcpu() { field "$1" 4 | median; }
# fresh NAME: a new empty container for one run, named in $bk, in a fresh Azurite.
serial=0
bk=""
fresh() {
  start_azurite
  serial=$((serial + 1))
  bk="$1-$serial"
  "$bin/ferry" -q mb "az/$bk"
}
count_in() { "$bin/ferry" ls -r --json "az/$1/" | grep -c '"type":"file"' || true; }
check() { # container, expected count, tool
  local got; got=$(count_in "$1")
  [ "$got" = "$2" ] || { echo "$3 left $got objects in az/$1, not $2" >&2; exit 1; }
}

# --- data ------------------------------------------------------------------------------
n=10000
echo "generating $n x 64 KiB and one 2 GiB file..." >&2
if want A1 || want A2; then
python3 - "$work/small" "$n" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
blob = os.urandom(65536)
for i in range(n):
    d = f"{root}/b1/binlogs/insert_log/449/450/{i // 500}/{(i // 50) % 10}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/{i}", "wb") as f:
        f.write(i.to_bytes(8, "little") + blob[8:])
EOF
fi
"$bin/ferry" -q mb a/src
if want A1 || want A2; then "$bin/ferry" -q cp -r "$work/small/" a/src/small/; fi
if want A3 || want A4; then
  mkdir -p "$work/big"
  head -c $((2 * 1024 * 1024 * 1024)) /dev/urandom >"$work/big/big.bin"
  "$bin/ferry" -q cp "$work/big/big.bin" a/src/big/big.bin
fi

# rclone's best --transfers for many small blobs, one trial each.
best="" best_t=16
for t in 16 32 64; do
  want A1 || want A2 || break
  fresh trial
  s=$(date +%s.%N)
  rclone copy --transfers "$t" --checkers "$t" "$work/small/" "az:$bk/" >/dev/null 2>&1
  e=$(date +%s.%N)
  d=$(echo "$e - $s" | bc)
  echo "  rclone trial --transfers $t: ${d}s" >&2
  if [ -z "$best" ] || (( $(echo "$d < $best" | bc) )); then best=$d; best_t=$t; fi
done
rc=(--transfers "$best_t" --checkers "$best_t")

for r in $(seq 1 "$runs"); do
  if want A1; then
  fresh a1; run "A1 ferry" "$bin/ferry" -q cp -r "$work/small/" "az/$bk/"; check "$bk" "$n" ferry
  fresh a1; run "A1 rclone" rclone copy "${rc[@]}" "$work/small/" "az:$bk/"; check "$bk" "$n" rclone
  fi
  if want A2; then
  fresh a2; run "A2 ferry" "$bin/ferry" -q cp -r a/src/small/ "az/$bk/"; check "$bk" "$n" ferry
  fresh a2; run "A2 rclone" rclone copy "${rc[@]}" a:src/small/ "az:$bk/"; check "$bk" "$n" rclone
  fi
  if want A3; then
  fresh a3; run "A3 ferry" "$bin/ferry" -q cp "$work/big/big.bin" "az/$bk/big.bin"; check "$bk" 1 ferry
  fresh a3; run "A3 rclone" rclone copy "$work/big/" "az:$bk/"; check "$bk" 1 rclone
  fi
  if want A4; then
  fresh a4; run "A4 ferry" "$bin/ferry" -q cp a/src/big/big.bin "az/$bk/big.bin"; check "$bk" 1 ferry
  fresh a4; run "A4 rclone" rclone copy a:src/big/ "az:$bk/"; check "$bk" 1 rclone
  fi
  echo "  run $r done" >&2
done
fresh done

{
  echo "### Azure: ferry against rclone's azureblob, into Azurite 3.35.0 (median of $runs)"
  echo
  echo "| workload | tool | seconds | rate | peak RSS MiB | tool CPU s | rclone / ferry |"
  echo "|---|---|---|---|---|---|---|"
  for w in A1 A2 A3 A4; do
    want "$w" || continue
    f=$(med "$w ferry")
    for tool in ferry rclone; do
      m=$(med "$w $tool")
      case $w in
        A1) what="10 000 x 64 KiB, local -> Azurite" ;;
        A2) what="10 000 x 64 KiB, S3 -> Azurite" ;;
        A3) what="2 GiB, local -> Azurite" ;;
        A4) what="2 GiB, S3 -> Azurite" ;;
      esac
      case $w in
        A1|A2) rate=$(printf '%.0f objects/s' "$(echo "$n / $m" | bc -l)") ;;
        *) rate=$(printf '%.0f MB/s' "$(echo "2147.483648 / $m" | bc -l)") ;;
      esac
      label=$tool
      [ "$tool" = ferry ] && label="ferry cp"
      [ "$tool" = rclone ] && case $w in A1|A2) label="rclone copy --transfers $best_t" ;; *) label="rclone copy (defaults)" ;; esac
      printf '| %s | %s | %.2f | %s | %s | %.1f | %.2fx |\n' "$what" "$label" "$m" "$rate" \
        "$(maxrss "$w $tool")" "$(medcpu "$w $tool")" "$(echo "$m / $f" | bc -l)"
    done
  done
} | tee "$work/report"
