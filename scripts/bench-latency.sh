#!/usr/bin/env bash
# Benchmark: ferryd's propagation latency (write at the source -> visible at the target) over
# N writes (default 1000), p50/p99/max, for
#   watch    a watched local source -> local target
#   webhook  an S3 source (ferry-test-s3: s3s-fs over HTTP + SigV4) -> local target, woken by
#            a MinIO-shaped bucket event POSTed right after each PUT
# Writes are paced (20 per second) so each measures propagation, not a backlog. Latency runs
# from the moment the object exists at the source (file closed; PUT answered) until the file
# exists at the target, which is polled every 5 ms (the measurement error). Not a test:
# prints a markdown table.
#
#   bash scripts/bench-latency.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
source scripts/build-env.sh
release_build --quiet -p ferry-cli -p ferryd -p ferry-tests --bins
bin="$CARGO_TARGET_DIR/release"

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-latency.XXXXXX")
pids=()
cleanup() {
  local rc=$?
  [ "$rc" = 0 ] || { echo "failed; ferryd's log:" >&2; tail -20 "$work/ferryd.log" >&2 2>/dev/null || true; }
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$bin/ferry-test-s3" "$work/s3" 127.0.0.1:0 AKIALAT latency-secret >"$work/s3.url" 2>"$work/s3.log" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/s3.url" ] && break; sleep 0.1; done
s3_url=$(head -1 "$work/s3.url")
mkdir -p "$work/s3/src" "$work/local-src"
port=$(free_port)
cat >"$work/ferryd.toml" <<EOF
state_dir = "$work/state"
alias_dir = "$work/aliases"
[control]
listen = "127.0.0.1:$port"
[aliases.s]
url = "$s3_url"
access_key = "AKIALAT"
secret_key = "latency-secret"
[[jobs]]
name = "watch"
source = "$work/local-src/"
target = "$work/out-watch/"
include = ["**"]
layout = "plain"
interval = "1h"
[[jobs]]
name = "webhook"
source = "s/src/"
target = "$work/out-webhook/"
include = ["**"]
layout = "plain"
interval = "1h"
EOF
chmod 600 "$work/ferryd.toml"
"$bin/ferryd" --config "$work/ferryd.toml" --log-level warn 2>"$work/ferryd.log" &
pids+=($!)
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v1/status" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$port/v1/status" || { echo "ferryd did not start" >&2; exit 1; }

python3 - "$work" "$n" "$port" "$s3_url" <<'EOF'
import hashlib, hmac, datetime, json, os, sys, threading, time, urllib.request, urllib.parse

work, n, port, s3 = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
host = urllib.parse.urlparse(s3).netloc

def sigv4_put(key, body):
    # A minimal SigV4 PUT (the same signing any S3 client does).
    t = datetime.datetime.now(datetime.timezone.utc)
    amz, day = t.strftime("%Y%m%dT%H%M%SZ"), t.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    path = "/src/" + urllib.parse.quote(key)
    headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": amz}
    signed = ";".join(sorted(headers))
    canon = "\n".join(["PUT", path, "", "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, payload])
    scope = f"{day}/us-east-1/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canon.encode()).hexdigest()])
    k = ("AWS4" + "latency-secret").encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(s3 + path, data=body, method="PUT", headers={
        "x-amz-content-sha256": payload, "x-amz-date": amz,
        "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIALAT/{scope}, SignedHeaders={signed}, Signature={sig}"})
    urllib.request.urlopen(req).read()

def webhook(key):
    ev = {"EventName": "s3:ObjectCreated:Put", "Records": [{"eventName": "s3:ObjectCreated:Put",
          "s3": {"bucket": {"name": "src"}, "object": {"key": urllib.parse.quote(key)}}}]}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/webhook", data=json.dumps(ev).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()

def run(name, write):
    out = os.path.join(work, f"out-{name}")
    written, seen, pending = {}, {}, {}
    lock = threading.Lock()
    done = threading.Event()
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
    last = [time.monotonic()]
    th = threading.Thread(target=poll, daemon=True); th.start()
    for i in range(n):
        key = f"b{i // 100}/binlogs/insert_log/1/2/3/{i}"
        start = time.monotonic()
        t0 = write(key, os.urandom(4096))
        written[key] = t0
        with lock:
            pending[key] = t0
        last[0] = time.monotonic()
        time.sleep(max(0, 0.05 - (time.monotonic() - start)))
    done.set(); th.join()
    lat = sorted((seen[k] - written[k]) * 1000 for k in seen)
    missing = len(written) - len(seen)
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
    return (name, len(lat), missing, pct(0.5), pct(0.99), lat[-1] if lat else float("nan"))

def local_write(key, body):
    p = os.path.join(work, "local-src", key)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(body)
    return time.monotonic()

def s3_write(key, body):
    sigv4_put(key, body)
    t0 = time.monotonic()  # the object exists at the source; the event is part of the feed
    webhook(key)
    return t0

rows = [run("watch", local_write), run("webhook", s3_write)]
print()
print(f"{n} writes of 4 KiB, 20 per second; latency = write done at the source -> file visible at the target")
print()
print("| source | change feed | objects seen | missing | p50 ms | p99 ms | max ms |")
print("|---|---|---|---|---|---|---|")
for name, ok, miss, p50, p99, mx in rows:
    src = "local folder (inotify)" if name == "watch" else "S3 (s3s-fs) + webhook"
    print(f"| {src} | {name} | {ok} | {miss} | {p50:.0f} | {p99:.0f} | {mx:.0f} |")
EOF
