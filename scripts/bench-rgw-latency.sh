#!/usr/bin/env bash
# Benchmark: ferryd's propagation latency from a Ceph RGW source woken by RGW's own bucket
# notifications (a topic whose push-endpoint is ferryd's webhook) to a local target: N writes
# (default 500) paced at 20 per second, each timed from the moment its PUT was answered until
# the file exists at the target (polled every 5 ms: the measurement error). Starts a throwaway
# single-node Ceph with tests/interop/rgw.sh (the civetweb gateway: notifications) and ferryd
# (release). Not a test: prints a markdown table row.
#
#   bash scripts/bench-rgw-latency.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
source scripts/build-env.sh
python3 -c 'import boto3' 2>/dev/null || python3 -m pip install --quiet boto3
release_build --quiet -p ferry-cli -p ferryd
bin="$CARGO_TARGET_DIR/release"

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-rgw-latency.XXXXXX")
pids=()
cleanup() {
  local rc=$?
  [ "$rc" = 0 ] || { echo "failed; ferryd's log:" >&2; tail -20 "$work/ferryd.log" >&2 2>/dev/null || true; }
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash tests/interop/rgw.sh stop "$work/rgw" || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bash tests/interop/rgw.sh start "$work/rgw" >/dev/null
source "$work/rgw/env"
port=$(free_port)
cat >"$work/ferryd.toml" <<EOF
state_dir = "$work/state"
alias_dir = "$work/aliases"
[control]
listen = "127.0.0.1:$port"
[aliases.rgw]
url = "$FERRY_RGW_CIVETWEB_URL"
access_key = "$FERRY_RGW_ACCESS_KEY"
secret_key = "$FERRY_RGW_SECRET_KEY"
[[jobs]]
name = "rgw"
source = "rgw/lat/in/"
target = "$work/out/"
layout = "plain"
interval = "1h"
reconcile = "off"
EOF
chmod 600 "$work/ferryd.toml"
export FERRY_CONFIG_DIR="$work/cli"
"$bin/ferry" alias set rgw "$FERRY_RGW_CIVETWEB_URL" "$FERRY_RGW_ACCESS_KEY" "$FERRY_RGW_SECRET_KEY" >/dev/null
"$bin/ferry" mb rgw/lat >/dev/null
"$bin/ferryd" --config "$work/ferryd.toml" --log-level warn 2>"$work/ferryd.log" &
pids+=($!)
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v1/status" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$port/v1/status" || { echo "ferryd did not start" >&2; exit 1; }
python3 tests/interop/rgw_notify.py "$FERRY_RGW_CIVETWEB_URL" lat ferry-lat "http://127.0.0.1:$port/v1/webhook/rgw" >/dev/null

python3 - "$work" "$n" <<'EOF'
import os, sys, threading, time
import boto3
from botocore.config import Config

work, n = sys.argv[1], int(sys.argv[2])
s3 = boto3.client("s3", endpoint_url=os.environ["FERRY_RGW_CIVETWEB_URL"], region_name="default",
                  aws_access_key_id=os.environ["FERRY_RGW_ACCESS_KEY"],
                  aws_secret_access_key=os.environ["FERRY_RGW_SECRET_KEY"],
                  config=Config(s3={"addressing_style": "path"}))
out = os.path.join(work, "out")
written, seen, pending = {}, {}, {}
lock = threading.Lock()
done = threading.Event()
last = [time.monotonic()]

def poll():
    while True:
        with lock:
            waiting = list(pending)
        for k in waiting:
            if os.path.exists(os.path.join(out, k)):
                seen[k] = time.monotonic()
                with lock:
                    del pending[k]
        if done.is_set() and (not waiting or time.monotonic() - last[0] > 30):
            break
        time.sleep(0.005)

th = threading.Thread(target=poll, daemon=True)
th.start()
for i in range(n):
    # Keys as milvus-backup writes them, and some Ceph sends raw (spaces, +, %, non-ASCII).
    key = f"b{i // 100}/binlogs/insert_log/1/2/3/{i}" if i % 4 else f"b{i // 100}/meta/ü {i}+x%.json"
    start = time.monotonic()
    s3.put_object(Bucket="lat", Key="in/" + key, Body=os.urandom(4096))
    t0 = time.monotonic()
    written[key] = t0
    with lock:
        pending[key] = t0
    last[0] = t0
    time.sleep(max(0, 0.05 - (time.monotonic() - start)))
done.set()
th.join()
lat = sorted((seen[k] - written[k]) * 1000 for k in seen)
missing = len(written) - len(seen)
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print("| source | writes | arrived | p50 ms | p99 ms | max ms |")
print("|---|---|---|---|---|---|")
print(f"| Ceph RGW (civetweb) bucket notifications -> ferryd webhook -> local | {n} | {len(lat)} | "
      f"{pct(0.5):.0f} | {pct(0.99):.0f} | {lat[-1] if lat else float('nan'):.0f} |")
if missing:
    print(f"{missing} writes did not arrive within 30 s", file=sys.stderr)
    sys.exit(1)
EOF
