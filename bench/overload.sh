#!/usr/bin/env bash
# REGISTER storm past the server's capacity (issue #21's overload goal), against the real binary:
# PROCS sipp processes together offer RATE digest registrations/s of PEERS static peers for
# SECONDS with test/sipp/register-or-503.xml, where "503 Service Unavailable" (the overload
# rule) ends a registration as answered and only a timeout fails it. Printed: registrations
# answered and timed out (sipp), 503s sent (the server's own counter), and the server's RSS
# every 30 s — flat means nothing accumulates while the server sheds load.
#
#   bench/overload.sh [rate] [seconds] [procs] [peers]      (defaults 20000 300 2 1000)
#
# GEN=regstorm uses bench/regstorm (built into the scratch directory) instead of sipp: one
# process offering the same registrations open-loop at RATE/s from SOCKETS UDP sockets
# (default 4; procs is ignored), cheap enough that on a small box the generator offers the
# rate asked and its own sockets drop nothing — it reports its own drops, so that a timeout it
# caused is told apart from one the server caused. REGSTORM_ARGS adds flags (regstorm -h).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-20000} secs=${2:-300} procs=${3:-2} peers=${4:-1000}
gen=${GEN:-sipp}
case $gen in
  sipp) command -v sipp >/dev/null || { echo "sipp missing (Debian: apt-get install sip-tester)" >&2; exit 1; } ;;
  regstorm) ;;
  *) echo "GEN must be sipp or regstorm" >&2; exit 2 ;;
esac
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
if [ "$gen" = regstorm ]; then
  go build -o "$d/regstorm" ./bench/regstorm
  procs=1 nsipp=0 per=$rate total=$((rate * secs))
  echo "overload bench: $(nproc) CPUs, regstorm × $rate/s for $secs s from ${SOCKETS:-4} sockets ($peers peers), server RSS $(rss) MB"
  "$d/regstorm" -rate "$rate" -dur "${secs}s" -peers "$peers" -sockets "${SOCKETS:-4}" -json "$d/regstorm.json" \
    ${REGSTORM_ARGS:-} "127.0.0.1:$sp" >"$d/regstorm.out" 2>&1 & pids+=($!)
  spids[0]=$!
else
  nsipp=$procs per=$((rate / procs)) total=$((rate / procs * secs))
  echo "overload bench: $(nproc) CPUs, $procs sipp processes × $per/s for $secs s ($peers peers), server RSS $(rss) MB"
fi
for ((p = 0; p < nsipp; p++)); do
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
  for _ in $(seq 30); do kill -0 "${spids[0]}" 2>/dev/null || break; sleep 1; done
  kill -0 "${spids[0]}" 2>/dev/null || break
  series+=("$(( $(date +%s) - t0 ))s:$(rss)")
done
series+=("$(( $(date +%s) - t0 ))s:$(rss)")
for p in "${spids[@]}"; do wait "$p" 2>/dev/null || true; done
el=$(( $(date +%s) - t0 ))
ok=0 failed=0 own=
if [ "$gen" = regstorm ]; then
  grep -v '^{' "$d/regstorm.out" || true # its readable line (and any complaint)
  [ -s "$d/regstorm.json" ] || { echo "regstorm gave no report" >&2; exit 1; }
  # answered: 200 or 503; timed out: Timer F fired (failures with other codes are in the
  # regstorm line above)
  read -r ok failed gfailed gdrops < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["answered_200"]+r["answered_503"], r["timed_out"], r["failed"], r["own_socket_drops"])' "$d/regstorm.json")
  own="; regstorm's own sockets dropped $gdrops"
  [ "$gfailed" = 0 ] || own="$own; $gfailed failed with other codes"
fi
for ((p = 0; p < nsipp; p++)); do
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
printf 'offered %d registrations in %d s: %d answered (200 or 503), %d timed out; the server refused %s requests with 503; its socket dropped %s datagrams; all sockets (%s'"'"'s too) dropped %d%s\n' \
  $((total * procs)) "$el" "$ok" "$failed" "${refused:-?}" "${sdrops:-?}" "$gen" "$kdrops" "$own"
echo "server RSS (MB) every 30 s and at the end: ${series[*]}"
