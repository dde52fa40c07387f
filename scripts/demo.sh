#!/usr/bin/env bash
# ferry's main job on this machine alone, no cloud account:
#  1. the CLI: a milvus-backup-shaped folder is copied to one S3 server, from there to a second,
#     different S3 server, and back to a local folder, then compared byte for byte. The two
#     servers are real S3 endpoints (s3s + s3s-fs, HTTP + SigV4) started on loopback here.
#  2. the daemon: `ferryd` with its embedded default config (./source/ -> ./target/, control
#     API on 127.0.0.1:7870) replicates the backup, then a new backup written while it runs,
#     and `ferry status` shows the job.
#
#   bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# What building needs (libclang, a C++ compiler), installed when missing.
bash scripts/setup.sh --build-only
source scripts/build-env.sh
# Same invocation as the test suite, so RocksDB and friends are built once for both.
cargo_build build --workspace --all-targets
bin="$CARGO_TARGET_DIR/debug"

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Started in this shell (not in $(...)) so cleanup knows their PIDs.
start_server() {
  "$bin/ferry-test-s3" "$work/server-$1" 127.0.0.1:0 "AKIA${1^^}DEMO" "demo-secret-$1" >"$work/$1.url" &
  pids+=($!)
  for _ in $(seq 1 50); do [ -s "$work/$1.url" ] && break; sleep 0.1; done
}
url_of() { head -1 "$work/$1.url"; }

# A backup as milvus-backup writes it: binlogs first, meta last.
src="$work/backup/my_backup"
mkdir -p "$src/binlogs/insert_log/449/450/451/451/100" "$src/binlogs/delta_log/449/-1/452" "$src/meta"
head -c 3000000 /dev/urandom >"$src/binlogs/insert_log/449/450/451/451/100/1001"
head -c 20000000 /dev/urandom >"$src/binlogs/insert_log/449/450/451/451/100/1002"
head -c 4096 /dev/urandom >"$src/binlogs/delta_log/449/-1/452/1003"
for f in backup_meta collection_meta partition_meta segment_meta full_meta; do echo "{\"name\":\"my_backup\"}" >"$src/meta/$f.json"; done

export FERRY_CONFIG_DIR="$work/ferry-config"
ferry() { "$bin/ferry" "$@"; }
start_server a
start_server b
ferry alias set site-a "$(url_of a)" AKIAADEMO demo-secret-a
ferry alias set site-b "$(url_of b)" AKIABDEMO demo-secret-b
ferry alias ls
ferry mb site-a/bucket-a
ferry mb site-b/bucket-b

echo "== local folder -> site-a"
ferry cp -r "$work/backup/" site-a/bucket-a/backup/
ferry ls -r --summarize site-a/bucket-a/backup/
echo "== site-a -> site-b (two different servers: streamed through ferry, big files in parallel parts)"
ferry cp -r site-a/bucket-a/backup/my_backup site-b/bucket-b/backup/
echo "== site-b -> local folder"
ferry cp -r site-b/bucket-b/backup/ "$work/restored/"
diff -r "$work/backup" "$work/restored"
echo "== byte-identical after local -> site-a -> site-b -> local"

echo "== ferryd: continuous replication with the embedded default config (./source/ -> ./target/)"
# Realistic backups (meta JSON as milvus-backup v0.5.12 writes it, 20 segments, L0 deltas).
"$bin/ferry-fixture" "$work/daemon/source" nightly_1 v0.5.12 1 20 >/dev/null
(cd "$work/daemon" && exec "$bin/ferryd" --log-level warn) &
pids+=($!)
ferryd_pid=$!
wait_until() { # what, test...
  local what=$1; shift
  for _ in $(seq 1 200); do "$@" && return 0; sleep 0.1; done
  echo "timed out waiting for $what" >&2; exit 1
}
ferryd_up() { "$bin/ferry" status >/dev/null 2>&1; }
wait_until "ferryd" ferryd_up
wait_until "the first scan" test -f "$work/daemon/target/nightly_1/meta/backup_meta.json"
echo "-- a new backup is written while ferryd runs (binlogs first, meta last); ferryd announces it"
echo "   at the target (meta/backup_meta.json) only once every binlog is there and read back"
"$bin/ferry-fixture" "$work/daemon/source" nightly_2 v0.5.12 2 20 >/dev/null
wait_until "the watch" test -f "$work/daemon/target/nightly_2/meta/backup_meta.json"
"$bin/ferry" status
diff -r "$work/daemon/source" "$work/daemon/target"
kill -TERM "$ferryd_pid"
wait "$ferryd_pid" || true
echo "== ferryd replicated both backups; source and target are identical"
