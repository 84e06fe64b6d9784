#!/usr/bin/env bash
# Cross-server AMI bench: starts two clustered pleiades servers on loopback ports with the
# Manager interface on, then runs bench/amibench: Setvar DEVICE_STATE(Custom:benchN) on server 1's
# AMI -> DeviceStateChange out of server 2's AMI. First one change at a time (latency), then
# pipelined (throughput, every device's final state delivered).
#
#   bench/ami.sh [changes] [devices] [window]     (defaults 10000 1000 200)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000} devices=${2:-1000} window=${3:-200}
go build -o bin/pleiades ./cmd/pleiades
go build -o bin/amibench ./bench/amibench
. bench/lib.sh
r1=$(free_port) r2=$(free_port) a1=$(free_port) a2=$(free_port)
dirs=() pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "${dirs[@]}"; }
trap cleanup EXIT
for i in 1 2; do
  d=$(mktemp -d /tmp/plami.XXXX); dirs+=("$d")
  if [ $i = 1 ]; then listen=$r1 route=$r2 ami=$a1; else listen=$r2 route=$r1 ami=$a2; fi
  asterisk_conf "$d" "amibench$i" "entityid = 02:00:00:00:0c:0$i"
  printf '[general]\nnode_name = amibench%s\nlisten = 127.0.0.1:%s\nroutes = 127.0.0.1:%s\n' $i $listen $route > "$d/etc/cluster.conf"
  printf '[general]\nenabled = yes\nbindaddr = 127.0.0.1\nport = %s\n[bench]\nsecret = bench\nread = all\nwrite = all\neventqueuesize = 1000000\n' $ami > "$d/etc/manager.conf"
  printf '[logfiles]\nconsole => error\n' > "$d/etc/logger.conf"
  bin/pleiades -f -C "$d/etc/asterisk.conf" >"$d/out.log" 2>&1 & pids+=($!)
done
for d in "${dirs[@]}"; do
  for _ in $(seq 100); do [ -S "$d/run/pleiades.ctl" ] && break; sleep 0.1; done
  for _ in $(seq 100); do [ "$(bin/pleiades -C "$d/etc/asterisk.conf" -rx 'cluster show members' | grep -c 'Node Name:')" = 2 ] && break; sleep 0.1; done
done
echo "== one change at a time ($n changes over $devices devices)"
bin/amibench -a 127.0.0.1:$a1 -b 127.0.0.1:$a2 -user bench -secret bench -n "$n" -devices "$devices" -window 1
echo "== pipelined, window $window ($((2*n)) changes over $devices devices)"
bin/amibench -a 127.0.0.1:$a1 -b 127.0.0.1:$a2 -user bench -secret bench -n "$((2*n))" -devices "$devices" -window "$window"
