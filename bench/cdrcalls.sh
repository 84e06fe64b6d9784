#!/usr/bin/env bash
# Call setup latency of real SIP calls with and without CDRs to PostgreSQL (issue #19's
# performance goal), in one run against the real binary:
#
#   sipp UAC (bench/sipp/call-uac.xml, alice, insecure=invite) --INVITE--> pleiades:
#   exten 300: Answer(), Wait(5) — the 200 OK comes from the server itself, so INVITE → 200
#   is the server's own setup time; alice plays g711a.pcap and hangs up after 2 s.
#
# The run alternates CDRs off / on (cdr.conf enable=no|yes, "module reload cdr"), ROUNDS
# times each, SECONDS at RATE calls/s per phase; with CDRs on every record goes to cdr_pgsql
# (a scratch schema in the local PostgreSQL, through its spooled queue) and to Master.csv.
# sipp's -trace_rtt gives each call's INVITE → 200 time; printed per phase kind: calls,
# failed, p50/p90/p99 of the setup time, the server's CPU per call (user+system time of the
# process over the phase, its calls' tails and the pause after it), then the records
# PostgreSQL holds and the CPU its backend for cdr_pgsql used (on the same two cores).
# BIN=path runs that binary instead of building bin/pleiades (a before/after comparison).
# SQLITE=no turns the embedded master.db backend off (cdr_sqlite3_custom.conf), to see its share.
#
#   bench/cdrcalls.sh [rate] [seconds] [rounds]     (defaults 200 20 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-200} secs=${2:-20} rounds=${3:-3}
command -v sipp >/dev/null || { echo "sipp missing (Debian: apt-get install sip-tester)" >&2; exit 1; }
. bench/lib.sh
cdr_bench_init cdrcalls 5
ap=$(free_port)
cdr_bench_start
echo "cdr calls bench: $(nproc) CPUs, $rate calls/s, $secs s a phase, $rounds rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"

# phase KIND N: one sipp run; its response times are appended to $d/KIND.rtt
phase() {
  local kind=$1 n=$2 w=$d/$1-$2
  mkdir -p "$w"
  cdr "$([ "$kind" = on ] && echo yes || echo no)"
  local t0; t0=$(cputicks "$srv")
  (cd "$w" && sipp "127.0.0.1:$sp" -sf "$OLDPWD/bench/sipp/call-uac.xml" -s 300 -m $((rate * secs)) -r "$rate" -l 3000 -t u1 \
    -p "$(free_port)" -mp "$ap" -buff_size 4194304 -nostdin -trace_rtt -rtt_freq 1 -trace_stat -fd 1 -timeout $((secs + 60)) \
    >/dev/null 2>&1) || true
  tail -n +2 "$w"/*_rtt.csv | awk -F';' 'NF >= 2 { print $2 }' >> "$d/$kind.rtt"
  awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "FailedCall(C)") c = i } END { print $c + 0 }' "$w"/*_.csv >> "$d/$kind.failed" 2>/dev/null || true
  sleep 3
  echo $(($(cputicks "$srv") - t0)) >> "$d/$kind.cpu"
}
for r in $(seq "$rounds"); do phase off "$r"; phase on "$r"; done
tck=$(getconf CLK_TCK)
for kind in off on; do
  sort -g "$d/$kind.rtt" | awk -v k="$kind" -v f="$(paste -sd+ "$d/$kind.failed" 2>/dev/null | bc)" \
    -v cpu="$(paste -sd+ "$d/$kind.cpu" | bc)" -v tck="$tck" -v per="$(paste -sd' ' "$d/$kind.cpu")" '{ v[NR] = $1 } END {
    printf "CDR %-3s %6d calls, %s failed: INVITE -> 200 p50 %.3f ms, p90 %.3f ms, p99 %.3f ms; server CPU %.0f us/call (ticks per phase: %s)\n",
      k, NR, f, v[int(NR * 0.5)], v[int(NR * 0.9)], v[int(NR * 0.99)], 1e6 * cpu / tck / NR, per }'
done
pg=$(psql -qtAh 127.0.0.1 -U postgres test -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$schema'" | head -1)
[ -n "$pg" ] && echo "PostgreSQL backend of cdr_pgsql: $(cputicks "$pg") ticks of CPU in all ($(awk -v t="$(cputicks "$pg")" -v tck="$tck" -v n="$(cat "$d/on.rtt" | wc -l)" 'BEGIN { printf "%.0f", 1e6 * t / tck / n }') us/record)"
sleep 2
echo "PostgreSQL: $(psql -qtAh 127.0.0.1 -U postgres test -c "SELECT count(*) FROM $schema.cdr") records; Master.csv: $(wc -l < "$d/log/cdr-csv/Master.csv" 2>/dev/null || echo 0) lines"
"$BIN" -C "$d/etc/asterisk.conf" -rx "core stop now" >/dev/null 2>&1 || true
