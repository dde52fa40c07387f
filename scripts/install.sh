#!/usr/bin/env bash
# Installs `ferry` and `ferryd` (release build) into PREFIX/bin (default: ~/.cargo/bin).
#
#   bash scripts/install.sh [PREFIX]
#
# Uses the build cache of scripts/demo.sh and .ci/run: when they built RocksDB already, the
# release build links that library (optimised C++, see Cargo.toml) instead of compiling it
# again, and takes about 5 minutes; from nothing, about 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-${CARGO_HOME:-$HOME/.cargo}}"
bash scripts/setup.sh --build-only
source scripts/build-env.sh
if [ -n "$(rocksdb_lib)" ]; then
  echo "install: linking the RocksDB library already built in $CARGO_TARGET_DIR" >&2
fi
release_build --locked -p ferry-cli -p ferryd
install -d "$prefix/bin" "$prefix/bin/.debug"
for b in ferry ferryd; do
  # The line tables go to bin/.debug/<name>.debug, which gdb and perf find by the debuglink
  # left in the binary; the binary keeps its symbols.
  built="$CARGO_TARGET_DIR/release/$b"
  objcopy --only-keep-debug "$built" "$prefix/bin/.debug/$b.debug"
  objcopy --strip-debug --add-gnu-debuglink="$prefix/bin/.debug/$b.debug" "$built" "$prefix/bin/$b.new"
  chmod 0755 "$prefix/bin/$b.new"
  mv -f "$prefix/bin/$b.new" "$prefix/bin/$b"
  echo "installed $prefix/bin/$b ($(du -h "$prefix/bin/$b" | cut -f1); line tables in bin/.debug/$b.debug)"
done
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "install: $prefix/bin is not on PATH; add it (e.g. export PATH=\"$prefix/bin:\$PATH\")" >&2 ;;
esac
