#!/usr/bin/env bash
# A throwaway Ceph RADOS Gateway for the interop suite: one monitor, one OSD on memstore and
# two radosgw daemons of one cluster, all under one folder, on free loopback ports, as plain
# background processes (no systemd, no mgr). Installs Debian's Ceph packages when missing.
#
#   bash tests/interop/rgw.sh start DIR     # prints the environment to source (also in DIR/env)
#   bash tests/interop/rgw.sh stop DIR      # stops exactly the processes it started, removes DIR
#
# The two gateways: `beast` (the production default frontend: every S3 test) and `civetweb`
# (bucket notifications: beast aborts on DeleteObjects in a bucket with notifications on this
# Ceph, 16.2 "Pacific"). The environment: FERRY_RGW_URL, FERRY_RGW_CIVETWEB_URL,
# FERRY_RGW_ACCESS_KEY, FERRY_RGW_SECRET_KEY.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: rgw.sh start|stop DIR" >&2
  exit 2
fi

stop() {
  [ -f "$dir/pids" ] || { rm -rf "$dir"; return 0; }
  local pids
  pids=$(cat "$dir/pids")
  # Gateways first, then the OSD, then the monitor.
  for p in $(echo "$pids" | tac); do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}

if [ "$cmd" = stop ]; then
  stop
  exit 0
fi
[ "$cmd" = start ] || { echo "usage: rgw.sh start|stop DIR" >&2; exit 2; }

need() { command -v "$1" >/dev/null 2>&1; }
if ! need ceph-mon || ! need ceph-osd || ! need radosgw || ! need ceph; then
  if [ "$(id -u)" != 0 ]; then
    echo "rgw: Ceph is missing: run 'sudo apt-get update && sudo apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common'" >&2
    exit 1
  fi
  echo "rgw: installing ceph-mon ceph-osd radosgw ceph-common (Debian packages)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    ceph-mon ceph-osd radosgw ceph-common >/dev/null
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
: >"$dir/pids"
fail() {
  echo "rgw: $1; the logs:" >&2
  tail -n 30 "$dir"/*.log >&2 2>/dev/null || true
  stop
  exit 1
}

mon_port=$(free_port)
beast_port=$(free_port)
civet_port=$(free_port)
fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
mkdir -p "$dir/mon/ceph-a" "$dir/osd/0" "$dir/run"

cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/\$name.log
pid file = $dir/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon data = $dir/mon/ceph-\$id
mon warn on pool no redundancy = false
[mon]
paxos propose interval = 0.05
# A throwaway test cluster: a machine at 95 % disk (a build cache) must not stop its monitor,
# which refuses to start below 5 % free by default.
mon data avail crit = 1
mon data avail warn = 2
[osd]
osd data = $dir/osd/\$id
osd objectstore = memstore
memstore device bytes = 4294967296
keyring = $dir/osd/\$id/keyring
osd max object name len = 460
osd max object namespace len = 64
[client.rgw.beast]
rgw frontends = beast endpoint=127.0.0.1:$beast_port
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw data = $dir/rgw-beast
[client.rgw.civetweb]
rgw frontends = civetweb port=127.0.0.1:$civet_port num_threads=64
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw data = $dir/rgw-civetweb
EOF
conf=(--conf "$dir/ceph.conf")

# Keys: the monitor's, the admin's, the gateways'.
ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$dir/keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
for g in beast civetweb; do
  ceph-authtool "$dir/keyring" --gen-key -n "client.rgw.$g" \
    --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
done

monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
ceph-mon "${conf[@]}" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" \
  >"$dir/mkfs-mon.log" 2>&1 || fail "ceph-mon --mkfs failed"
ceph-mon "${conf[@]}" -i a -f >"$dir/mon.out.log" 2>&1 &
mon_pid=$!
echo $mon_pid >>"$dir/pids"

ceph_() { timeout 20 ceph "${conf[@]}" "$@"; }
for _ in $(seq 1 100); do
  # A monitor that exited will never answer: say why at once instead of timing out 100 times.
  kill -0 "$mon_pid" 2>/dev/null || fail "the monitor exited: $(tail -n 3 "$dir/mon.out.log")"
  ceph_ mon stat >/dev/null 2>&1 && break
  sleep 0.1
done
ceph_ mon stat >/dev/null 2>&1 || fail "the monitor did not answer"

osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
osd_secret=$(ceph-authtool --gen-print-key)
echo "{\"cephx_secret\": \"$osd_secret\"}" >"$dir/osd-new.json"
osd_id=$(ceph_ osd new "$osd_uuid" -i "$dir/osd-new.json")
[ "$osd_id" = 0 ] || fail "ceph osd new gave id $osd_id"
ceph-osd "${conf[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid" --key "$osd_secret" \
  >"$dir/mkfs-osd.log" 2>&1 || fail "ceph-osd --mkfs failed"
# mkfs writes no keyring for a memstore OSD.
ceph-authtool --create-keyring "$dir/osd/0/keyring" -n osd.0 --add-key "$osd_secret" >/dev/null
ceph-osd "${conf[@]}" -i 0 -f >"$dir/osd.out.log" 2>&1 &
echo $! >>"$dir/pids"
for _ in $(seq 1 200); do
  ceph_ osd stat -f json 2>/dev/null | grep -q '"num_up_osds":1' && break
  sleep 0.1
done
ceph_ osd stat -f json 2>/dev/null | grep -q '"num_up_osds":1' || fail "the OSD did not come up"

for g in beast civetweb; do
  mkdir -p "$dir/rgw-$g"
  radosgw "${conf[@]}" -n "client.rgw.$g" -f >"$dir/rgw-$g.out.log" 2>&1 &
  echo $! >>"$dir/pids"
done
# Ready when an anonymous GET / answers a bucket listing (not just any listener on the port).
ready() {
  curl -s --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null | grep -q ListAllMyBucketsResult
}
for _ in $(seq 1 300); do
  ready "$beast_port" && ready "$civet_port" && break
  sleep 0.1
done
ready "$beast_port" || fail "radosgw (beast) did not answer"
ready "$civet_port" || fail "radosgw (civetweb) did not answer"

access_key="AKIARGW$(python3 -c 'import secrets; print(secrets.token_hex(6).upper())')"
secret_key="rgw-secret-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
timeout 30 radosgw-admin "${conf[@]}" user create --uid ferry --display-name "ferry tests" \
  --access-key "$access_key" --secret "$secret_key" >"$dir/user.json" 2>"$dir/user.log" ||
  fail "radosgw-admin user create failed"

cat >"$dir/env" <<EOF
export FERRY_RGW_URL=http://127.0.0.1:$beast_port
export FERRY_RGW_CIVETWEB_URL=http://127.0.0.1:$civet_port
export FERRY_RGW_ACCESS_KEY=$access_key
export FERRY_RGW_SECRET_KEY=$secret_key
export FERRY_RGW_DIR=$dir
EOF
cat "$dir/env"
