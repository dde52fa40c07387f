#!/usr/bin/env bash
# Long crash loops: the kill -9 tests of tests/tests/e2e/restores.rs (ferryd replicating six
# milvus-backup backups written file by file, one with a 40 MiB multipart binlog, an exec and a
# REST restore trigger) with CYCLES kills each instead of CI's 26, and a fresh random seed
# unless FERRY_CRASH_SEED is set. Each loop checks: target == source byte for byte, no
# multipart upload left open, every backup restored exactly once, no backup_meta.json visible
# before the rest of its backup. Prints each loop's numbers.
#
#   bash scripts/crash-loop.sh [CYCLES]        (default 200 per loop)
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-200}
seed=${FERRY_CRASH_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
echo "crash loops: $cycles cycles per loop, FERRY_CRASH_SEED=$seed" >&2
FERRY_CRASH_CYCLES=$cycles FERRY_CRASH_SEED=$seed \
  cargo test --quiet -p ferry-tests --test e2e kill9_ -- --nocapture --test-threads 1 2>&1 |
  grep -E "crash loop|test result|panicked|FAILED|failures"
