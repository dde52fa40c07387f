#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 20: the short check CI runs; run longer by hand,
# e.g. `bash fuzz/run.sh 3600`). Installs cargo-fuzz if missing. Any crash fails the run and
# leaves its input under fuzz/artifacts/.
#
# cargo fuzz passes -Z flags to rustc (sanitizers), which a stable toolchain only accepts with
# RUSTC_BOOTSTRAP=1; this machine has only a stable toolchain.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-20}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked --quiet cargo-fuzz
export RUSTC_BOOTSTRAP=1
target_dir=${FERRY_FUZZ_TARGET_DIR:-$HOME/.cache/ferry/fuzz-target}
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
for t in key_to_path manifest_decode; do
  mkdir -p "$corpus/$t"
  cargo fuzz run --target-dir "$target_dir" "$t" "$corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 >"$corpus/$t.log" 2>&1 || {
    tail -40 "$corpus/$t.log" >&2
    echo "fuzz: $t failed" >&2
    exit 1
  }
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$corpus/$t.log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz: $t: $runs inputs in ${secs}s, no crash"
done
