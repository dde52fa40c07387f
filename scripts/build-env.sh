# Sourced by the scripts that build ferry (demo.sh, install.sh, .ci/run): one build cache for
# all of them, and a word about the long first build while it runs.

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"

# The newest RocksDB static library the debug build (the demo's, the tests') made in this
# cache, if any: optimised C++ without debug info (see Cargo.toml).
rocksdb_lib() {
  ls -t "$CARGO_TARGET_DIR"/debug/build/librocksdb-sys-*/out/librocksdb.a 2>/dev/null | head -1 || true
}

# Makes the next cargo command link that library instead of compiling RocksDB again (release
# builds, clippy's check build): ~20 minutes saved each. Nothing when there is none yet.
use_built_rocksdb() {
  local lib
  lib=$(rocksdb_lib)
  [ -n "$lib" ] || return 0
  ROCKSDB_LIB_DIR=$(dirname "$lib")
  export ROCKSDB_LIB_DIR ROCKSDB_STATIC=1
}

# A release build (install, benchmarks) that links the debug build's RocksDB when there is one.
release_build() {
  use_built_rocksdb
  cargo_build build --release "$@"
}

# Runs a cargo command; when RocksDB has not been built in this cache yet, says so first and
# then every two minutes while it runs (the C++ build prints nothing on its own).
cargo_build() {
  if [ -n "$(rocksdb_lib)" ]; then
    cargo "$@"
    return
  fi
  echo "ferry: building RocksDB from source, once: about 20 minutes on 2 cores, then a few for the rest (cache: $CARGO_TARGET_DIR)" >&2
  local start=$SECONDS
  ( while sleep 120; do
      echo "ferry: still building ($(( (SECONDS - start) / 60 )) min so far)" >&2
    done ) &
  local beat=$!
  local rc=0
  cargo "$@" || rc=$?
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  echo "ferry: first build done in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s" >&2
  return "$rc"
}
