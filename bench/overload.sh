#!/usr/bin/env bash
# REGISTER storm past the server's capacity (issue #21's overload goal), against the real binary:
# PROCS sipp processes together offer RATE digest registrations/s of PEERS static peers for
# SECONDS with test/sipp/register-or-503.xml, where "503 Service Unavailable" (the overload
# rule) ends a registration as answered and only a timeout fails it. Printed: registrations
# answered and timed out (sipp), 503s sent (the server's own counter), and the server's RSS
# every 30 s — flat means nothing accumulates while the server sheds load.
#
#   bench/overload.sh [rate] [seconds] [procs] [peers]      (defaults 20000 300 2 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-20000} secs=${2:-300} procs=${3:-2} peers=${4:-1000}
command -v sipp >/dev/null || { echo "sipp missing (Debian: apt-get install sip-tester)" >&2; exit 1; }
make -s build
. bench/lib.sh
sp=$(free_port)
d=$(mktemp -d /tmp/plovl.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$d"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT # KEEP=1: keep the files
asterisk_conf "$d" overload
printf '[logfiles]\nconsole => error\n' > "$d/etc/logger.conf"
{
  printf '[general]\nudpbindaddr = 127.0.0.1:%s\nrealm = pleiades\nmaxexpiry = 3600\n\n' "$sp"
  for ((i = 0; i < peers; i++)); do printf '[u%05d]\ntype=friend\nhost=dynamic\nsecret=pw%d\n\n' $i $i; done
} > "$d/etc/sip.conf"
bin/pleiades -f -C "$d/etc/asterisk.conf" >"$d/server.log" 2>&1 & server=$!; pids+=($server)
for _ in $(seq 100); do [ -S "$d/run/pleiades.ctl" ] && break; sleep 0.1; done
cli() { bin/pleiades -C "$d/etc/asterisk.conf" -rx "$1"; }
rss() { awk '/VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$server/status"; }
per=$((rate / procs)) total=$((rate / procs * secs))
echo "overload bench: $(nproc) CPUs, $procs sipp processes × $per/s for $secs s ($peers peers), server RSS $(rss) MB"
for ((p = 0; p < procs; p++)); do
  { echo SEQUENTIAL; for ((i = p; i < peers; i += procs)); do printf 'u%05d;[authentication username=u%05d password=pw%d]\n' $i $i $i; done; } > "$d/users$p.csv"
  sipp "127.0.0.1:$sp" -sf test/sipp/register-or-503.xml -inf "$d/users$p.csv" -m "$total" -r "$per" -l 20000 -t u1 \
    -buff_size 4194304 -nostdin -timeout $((secs + 60))s -trace_stat -stf "$d/stat$p.csv" -fd 10 ${SIPP_ARGS:-} >"$d/sipp$p.out" 2>&1 & pids+=($!)
  spids[$p]=$!
done
rcvbuferrs() { awk '/^Udp:/ { if (h) { print $6; exit } h = 1 }' /proc/net/snmp; }
kd0=$(rcvbuferrs)
series=()
t0=$(date +%s)
while kill -0 "${spids[0]}" 2>/dev/null; do
  sleep 30
  series+=("$(( $(date +%s) - t0 ))s:$(rss)")
done
for p in "${spids[@]}"; do wait "$p" 2>/dev/null || true; done
el=$(( $(date +%s) - t0 ))
ok=0 failed=0
for ((p = 0; p < procs; p++)); do
  last=$(tail -1 "$d/stat$p.csv")
  col() { head -1 "$d/stat$p.csv" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
  ok=$((ok + $(echo "$last" | cut -d';' -f"$(col 'SuccessfulCall(C)')")))
  failed=$((failed + $(echo "$last" | cut -d';' -f"$(col 'FailedCall(C)')")))
done
# The server's own socket: datagrams the kernel dropped at its full receive queue (the
# "drops" column of /proc/net/udp for the server's port).
hexport=$(printf '%04X' "$sp")
sdrops=$(awk -v p=":$hexport" '$2 ~ p"$" { print $NF }' /proc/net/udp | head -1)
refused=$(cli "sip show settings" | sed -n 's/.*refused \([0-9]*\).*/\1/p' | head -1)
kdrops=$(( $(rcvbuferrs) - kd0 ))
printf 'offered %d registrations in %d s: %d answered (200 or 503), %d timed out; the server refused %s requests with 503; its socket dropped %s datagrams; all sockets (sipp'"'"'s too) dropped %d\n' \
  $((total * procs)) "$el" "$ok" "$failed" "${refused:-?}" "${sdrops:-?}" "$kdrops"
echo "server RSS (MB) every 30 s: ${series[*]}"
