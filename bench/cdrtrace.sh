#!/usr/bin/env bash
# Where calls wait for a processor, with CDRs on or off: the server (BIN, default
# bin/pleiades) runs bench/cdrsetup.sh's configuration (cdr_pgsql into a scratch schema,
# Master.csv, master.db) with an execution trace (PLEIADES_TRACE); bench/sipcalls makes
# calls at RATE/s for 3 s (not counted) and SECONDS more, then the server stops, and
# bench/schedwait reads the trace: waits from runnable to running by length, how many of
# the long ones (> 0.5 ms) fell in a GC mark, and which goroutines ran meanwhile.
#
#   bench/cdrtrace.sh yes|no [rate] [seconds]     (defaults 1000 8)
#
# KEEP=file keeps the trace there.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?yes or no} rate=${2:-1000} secs=${3:-8}
[ -n "${BIN:-}" ] || { make -s build; BIN=bin/pleiades; }
. bench/lib.sh
sp=$(free_port)
d=$(mktemp -d /tmp/plcdrtrace.XXXX)
schema="cdrtrace_$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  cdr_bench_drop "$schema"
  rm -rf "$d"
}
trap cleanup EXIT
go build -o "$d/sipcalls" ./bench/sipcalls
(cd bench/schedwait && go build -o "$d/schedwait" .)
cdr_bench_setup "$d" "$schema" "$sp" 10
export PLEIADES_TRACE=$d/server.trace
cdr_bench_start
unset PLEIADES_TRACE # not for the -rx clients
cdr "$mode"
sleep 1
"$d/sipcalls" -addr "127.0.0.1:$sp" -rate "$rate" -dur 3s -socks 2 -lat /dev/null >/dev/null
"$d/sipcalls" -addr "127.0.0.1:$sp" -rate "$rate" -dur "${secs}s" -socks 2 -lat /dev/null |
  jq -r '"CDR '"$mode"': \(.calls) calls, \(.failed) failed; INVITE -> 200 p50 \(.p50_us) us, p99 \(.p99_us) us"'
"$BIN" -C "$d/etc/asterisk.conf" -rx "core stop now" >/dev/null 2>&1 || true
wait "$srv" 2>/dev/null || true
"$d/schedwait" "$d/server.trace"
[ -z "${KEEP:-}" ] || cp "$d/server.trace" "$KEEP"
