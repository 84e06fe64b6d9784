#!/usr/bin/env bash
# Call setup latency with and without CDRs to PostgreSQL at issue #19's rate (1,000 call
# records/s, the call path unaffected: setup latency within 5 % of the run without CDR), in
# one run against the real binary:
#
#   bench/sipcalls (alice, insecure=invite) --INVITE--> pleiades: exten 300: Answer(), Wait(10)
#   the 200 OK comes from the server itself, so INVITE → 200 is the server's own setup time;
#   sipcalls ACKs it and hangs up at once with a BYE, so every call makes one record.
#
# sipcalls times each INVITE → 200 in µs (the 200's kernel receive stamp, SO_TIMESTAMPNS,
# minus the INVITE's send time), where sipp's -trace_rtt has whole milliseconds. The run
# alternates CDRs off / on (cdr.conf enable=no|yes, "module reload cdr"), ROUNDS times each,
# SECONDS at RATE calls/s a phase; with CDRs on every record goes to cdr_pgsql (a scratch
# schema in the local PostgreSQL, through its spooled queue) and to Master.csv. Printed per
# phase: sipcalls' summary (rate achieved, its own CPU) and the channels left on the server
# after it; per phase kind, over all its rounds: calls, failed, p50/p90/p99 of the setup
# time, the server's CPU per call (user+system time of the process over the phase and the
# pause after it); the ratios on/off of p50 and p99; then the records PostgreSQL holds and
# the lines of Master.csv (both must equal the "on" calls) and the CPU PostgreSQL's backend
# for cdr_pgsql used per record (on the same cores).
# BIN=path runs that binary instead of building bin/pleiades (a before/after comparison).
# SQLITE=no turns the embedded master.db backend off (cdr_sqlite3_custom.conf), to see its share.
# Printed too: each phase kind's GC cycles and their concurrent mark time (the server runs
# with GODEBUG=gctrace=1), and the server's peak RSS.
# SOCKS=n gives sipcalls n local sockets (default 2); SIPCALLS_ARGS adds flags of its own
# (e.g. "-procs 2", "-kts=false").
#
# WARMUP=s sets the uncounted warm-up before the rounds (default 40 s; 0: none).
#
#   bench/cdrsetup.sh [rate] [seconds] [rounds]     (defaults 1000 20 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1000} secs=${2:-20} rounds=${3:-3}
command -v jq >/dev/null || { echo "jq missing (Debian: apt-get install jq)" >&2; exit 1; }
. bench/lib.sh
cdr_bench_init cdrsetup 10
go build -o "$d/sipcalls" ./bench/sipcalls
rx() { "$BIN" -C "$d/etc/asterisk.conf" -rx "$1"; }
# The server logs each GC cycle (gctrace) so that each phase kind's cycles and the wall time
# of their concurrent mark (when calls share the CPU with the collector) can be counted.
GODEBUG=gctrace=1 cdr_bench_start
echo "cdr setup bench: $(nproc) CPUs, $rate calls/s, $secs s a phase, $rounds rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"

# phase KIND N: one sipcalls run; its latencies are appended to $d/KIND.lat
phase() {
  local kind=$1 n=$2 w=$d/$1-$2
  cdr "$([ "$kind" = on ] && echo yes || echo no)"
  local t0 g0; t0=$(cputicks "$srv"); g0=$(grep -c '^gc ' "$d/server.log" || true)
  "$d/sipcalls" -addr "127.0.0.1:$sp" -rate "$rate" -dur "${secs}s" -socks "${SOCKS:-2}" -lat "$w.lat" ${SIPCALLS_ARGS:-} > "$w.json" || true
  cat "$w.lat" >> "$d/$kind.lat" 2>/dev/null || true
  jq -r '.calls' "$w.json" >> "$d/$kind.calls"
  jq -r '.failed' "$w.json" >> "$d/$kind.failed"
  jq -r '.ok' "$w.json" >> "$d/$kind.ok"
  sleep 3
  echo $(($(cputicks "$srv") - t0)) >> "$d/$kind.cpu"
  # this phase's GC cycles: their count and the sum of their concurrent mark's wall time (ms)
  grep '^gc ' "$d/server.log" | tail -n +$((g0 + 1)) | awk '{ split($5, c, "+"); n++; m += c[2] } END { printf "%d %.1f\n", n, m }' >> "$d/$kind.gc"
  local left; left=$(rx "core show channels count" 2>&1 | awk '/active channel/ { print $1 }')
  echo "$left" >> "$d/$kind.left"
  jq -r --arg k "$kind" --arg n "$n" --arg left "${left:-?}" '"  phase \($k) \($n): \(.calls) calls, \(.ok) ok, \(.failed) failed \(.codes), BYE failed \(.bye_failed); p50 \(.p50_us) us, p99 \(.p99_us) us, max \(.max_us) us; sent at \(.rate_achieved)/s; sipcalls CPU \(.cpu_user_s + .cpu_sys_s | . * 1000 | round) ms (\(.cpu_us_per_call) us/call); channels left: \($left)"' "$w.json"
}
# A warm-up first, not counted (WARMUP seconds, default 40, CDRs off): the server's heap
# grows to its steady size and its pools fill; whichever phase came first took that cost.
# (Before stop 30 sipgo kept each answered INVITE's transaction for 32 s: RSS grew from ~70
# to ~900 MB in the first 32 s; since, it stays near 80 MB.)
if [ "${WARMUP:-40}" -gt 0 ]; then
  cdr no
  "$d/sipcalls" -addr "127.0.0.1:$sp" -rate "$rate" -dur "${WARMUP:-40}s" -socks "${SOCKS:-2}" -lat /dev/null ${SIPCALLS_ARGS:-} |
    jq -r '"  warm-up: \(.calls) calls, \(.ok) ok, \(.failed) failed; p50 \(.p50_us) us, p99 \(.p99_us) us (not counted)"'
  sleep 3
fi
# Rounds alternate the order (off, on / on, off ...) so that a drift over the run, such as
# the heap or the tables growing, falls on both kinds alike.
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then phase off "$r"; phase on "$r"; else phase on "$r"; phase off "$r"; fi
done
tck=$(getconf CLK_TCK)
sum() { paste -sd+ "$1" | bc; }
for kind in off on; do
  sort -n "$d/$kind.lat" | awk -v k="$kind" -v calls="$(sum "$d/$kind.calls")" -v f="$(sum "$d/$kind.failed")" \
    -v cpu="$(sum "$d/$kind.cpu")" -v tck="$tck" -v per="$(paste -sd' ' "$d/$kind.cpu")" -v out="$d/$kind.pct" '{ v[NR] = $1 }
    function q(p,  i) { i = int(NR * p + 0.5); if (i < 1) i = 1; return v[i] } END {
    printf "CDR %-3s %6d calls, %s failed: INVITE -> 200 p50 %d us, p90 %d us, p99 %d us; server CPU %.0f us/call (ticks per phase: %s)\n",
      k, calls, f, q(0.5), q(0.9), q(0.99), 1e6 * cpu / tck / calls, per
    print q(0.5), q(0.99) > out }'
done
for kind in off on; do
  awk -v k="$kind" '{ n += $1; m += $2 } END { printf "GC %-3s %d cycles, concurrent mark %.0f ms in all\n", k, n, m }' "$d/$kind.gc"
done
read -r off50 off99 < "$d/off.pct"; read -r on50 on99 < "$d/on.pct"
awk -v a="$off50" -v b="$on50" -v c="$off99" -v e="$on99" 'BEGIN { printf "on/off: p50 %.3f, p99 %.3f\n", b / a, e / c }'
# Round by round: the same round's two phases side by side, and the geometric mean of the
# rounds' on/off ratios with its 95 % interval (Student's t over the rounds): how far the
# merged ratio stands out of the phases' own spread.
q5099() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR) print v[int(NR * 0.5 + 0.5)], v[int(NR * 0.99 + 0.5)]; else print 0, 0 }'; }
for r in $(seq "$rounds"); do echo "$r $(q5099 "$d/off-$r.lat") $(q5099 "$d/on-$r.lat")"; done | awk '
  function t95(df,  t) { split("12.71 4.30 3.18 2.78 2.57 2.45 2.36 2.31 2.26 2.23 2.20 2.18 2.16 2.14 2.13", t, " "); return df <= 15 ? t[df] : 2.0 }
  $2 > 0 && $3 > 0 && $4 > 0 && $5 > 0 { n++; a = log($4 / $2); b = log($5 / $3); s50 += a; s99 += b; q99 += b * b
    printf "  round %d: off p50 %d us, p99 %d us; on p50 %d us, p99 %d us; on/off p50 %.3f, p99 %.3f\n", $1, $2, $3, $4, $5, $4 / $2, $5 / $3 }
  END { if (n < 2) exit; m = s99 / n; sd = sqrt((q99 - n * m * m) / (n - 1)); h = t95(n - 1) * sd / sqrt(n)
    printf "rounds: geometric mean on/off p50 %.3f, p99 %.3f (95 %% interval %.3f-%.3f)\n", exp(s50 / n), exp(m), exp(m - h), exp(m + h) }'
oncalls=$(sum "$d/on.ok")
# Wait (at most 60 s) for the spooled queue to drain into PostgreSQL.
for _ in $(seq 120); do
  recs=$(psql -qtAh 127.0.0.1 -U postgres test -c "SELECT count(*) FROM $schema.cdr")
  [ "$recs" -ge "$oncalls" ] && break
  sleep 0.5
done
pg=$(psql -qtAh 127.0.0.1 -U postgres test -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$schema'" | head -1)
[ -n "$pg" ] && echo "PostgreSQL backend of cdr_pgsql: $(cputicks "$pg") ticks of CPU in all ($(awk -v t="$(cputicks "$pg")" -v tck="$tck" -v n="$recs" 'BEGIN { printf "%.0f", n ? 1e6 * t / tck / n : 0 }') us/record)"
lines=$(wc -l < "$d/log/cdr-csv/Master.csv" 2>/dev/null || echo 0)
echo "PostgreSQL: $recs records; Master.csv: $lines lines; calls answered with CDRs on: $oncalls$([ "$recs" = "$oncalls" ] && [ "$lines" = "$oncalls" ] && echo ' (match)' || echo ' (MISMATCH)')"
echo "channels left after each phase: off $(paste -sd' ' "$d/off.left"), on $(paste -sd' ' "$d/on.left")"
echo "server: peak RSS $(awk '/VmHWM/ { printf "%.0f MB", $2 / 1024 }' "/proc/$srv/status"), RSS now $(awk '/VmRSS/ { printf "%.0f MB", $2 / 1024 }' "/proc/$srv/status")"
rx "core stop now" >/dev/null 2>&1 || true
