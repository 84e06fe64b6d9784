#!/usr/bin/env bash
# Issue #19's goal (1,000 call records/s to PostgreSQL, call setup latency within 5 % of
# the run without CDR) measured so that the box's drift cancels: ONE sipcalls run of
# SECONDS at RATE calls/s against bench/cdrsetup.sh's server (cdr_pgsql into a scratch
# schema, Master.csv, master.db unless SQLITE=no), while CDRs are turned off and on
# ("module reload cdr") every PERIOD seconds. Each call is put in the phase its INVITE was
# sent in (sipcalls -latat); the first SETTLE seconds of a phase are left out (the backends
# commit what the "on" phase gave them up to 250 ms into the next one, and the switch
# itself costs a CLI process). Slow minutes of the box fall on both kinds alike, where
# cdrsetup.sh's 10-20 s phases let one phase take a whole slow spell.
#
# Printed: per kind, the calls kept, p50/p90/p99/p99.9 of INVITE -> 200 over all its phases;
# the ratios on/off; then, over the pairs (phase k off, the next phase on, or the reverse:
# pairs alternate which comes first), the geometric mean of the pairs' p99 ratio and its
# 95 % interval (Student's t), and how many pairs had on > off. Then the records in
# PostgreSQL and the lines of Master.csv, which must equal the calls made while CDRs were on
# (the calls in a switch's window count for whichever state they met).
#
#   bench/cdrtoggle.sh [rate] [seconds] [period]     (defaults 1000 120 3)
#
# BIN=path runs that binary; WARMUP=s the uncounted warm-up (default 15 s); SETTLE=s
# (default 0.5); KEEP=1 keeps the scratch directory.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-1000} secs=${2:-120} period=${3:-3} settle=${SETTLE:-0.5}
command -v jq >/dev/null || { echo "jq missing (Debian: apt-get install jq)" >&2; exit 1; }
. bench/lib.sh
cdr_bench_init cdrtoggle 10
go build -o "$d/sipcalls" ./bench/sipcalls
cdr_bench_start
echo "cdr toggle bench: $(nproc) CPUs, $rate calls/s for $secs s, CDRs switched every $period s (first $settle s of each left out), load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${WARMUP:-15}" -gt 0 ]; then
  "$d/sipcalls" -addr "127.0.0.1:$sp" -rate "$rate" -dur "${WARMUP:-15}s" -lat /dev/null |
    jq -r '"  warm-up: \(.calls) calls, \(.ok) ok, \(.failed) failed; p50 \(.p50_us) us, p99 \(.p99_us) us (not counted)"'
  sleep 3
fi
now() { date +%s%N; }
# The switcher: phase k starts when its reload has returned; the log has one line a phase:
# k, state, the time the switch began and the time it was done (Unix ns).
switcher() {
  local k=0 st
  while :; do
    st=$([ $(((k / 2 + k) % 2)) = 0 ] && echo no || echo yes) # off on, on off, off on, ...
    local a; a=$(now)
    cdr "$st"
    echo "$k $st $a $(now)" >> "$d/phases"
    k=$((k + 1))
    sleep "$period"
  done
}
: > "$d/phases"
"$d/sipcalls" -addr "127.0.0.1:$sp" -rate "$rate" -dur "${secs}s" -lat "$d/calls.lat" -latat > "$d/run.json" &
gen=$!
pids+=("$gen")
switcher &
sw=$!
pids+=("$sw")
wait "$gen" || true
kill "$sw" 2>/dev/null || true
wait "$sw" 2>/dev/null || true
jq -r '"sipcalls: \(.calls) calls, \(.ok) ok, \(.failed) failed \(.codes), BYE failed \(.bye_failed); sent at \(.rate_achieved)/s"' "$d/run.json"
# Each call to its phase: the last phase whose switch was done before the INVITE, if the
# INVITE came SETTLE s after that and before the next switch began.
awk -v settle="$settle" -v out="$d" '
  FNR == NR { k[NR] = $1; st[NR] = $2; a[NR] = $3; e[NR] = $4; n = NR; next }
  { t = $1; while (j < n && a[j + 1] <= t) j++
    if (j > 0 && t < e[j] && st[j] != st[j - 1]) amb++ # during a switch: either state
    else if (j > 0 && st[j] == "yes") on++
    if (j == 0 || t < e[j] + settle * 1e9 || (j < n && t >= a[j + 1])) next
    print $2 > (out "/p-" k[j] "-" st[j] ".lat") }
  END { print on + 0, on + amb > (out "/oncalls") }' "$d/phases" "$d/calls.lat"
pct() { sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int(NR * p + 0.5); if (i < 1) i = 1; print (NR ? v[i] : 0) }'; }
for st in no yes; do
  cat "$d"/p-*-"$st".lat > "$d/all-$st.lat" 2>/dev/null || : > "$d/all-$st.lat"
  printf 'CDR %-3s %6d calls in %d phases: INVITE -> 200 p50 %d us, p90 %d us, p99 %d us, p99.9 %d us\n' \
    "$([ "$st" = yes ] && echo on || echo off)" "$(wc -l < "$d/all-$st.lat")" "$(ls "$d"/p-*-"$st".lat 2>/dev/null | wc -l)" \
    "$(pct "$d/all-$st.lat" 0.5)" "$(pct "$d/all-$st.lat" 0.9)" "$(pct "$d/all-$st.lat" 0.99)" "$(pct "$d/all-$st.lat" 0.999)"
done
awk -v a="$(pct "$d/all-no.lat" 0.5)" -v b="$(pct "$d/all-yes.lat" 0.5)" -v c="$(pct "$d/all-no.lat" 0.99)" -v e="$(pct "$d/all-yes.lat" 0.99)" \
  'BEGIN { printf "on/off over all phases: p50 %.3f, p99 %.3f\n", b / a, e / c }'
# Pairs: phases 2i and 2i+1 (one off, one on).
: > "$d/pairs"
for i in $(seq 0 2 $(($(wc -l < "$d/phases") - 2))); do
  j=$((i + 1))
  off=$d/p-$i-no.lat on=$d/p-$j-yes.lat
  [ -f "$off" ] || off=$d/p-$j-no.lat on=$d/p-$i-yes.lat
  [ -f "$off" ] && [ -f "$on" ] || continue
  [ "$(wc -l < "$off")" -ge 100 ] && [ "$(wc -l < "$on")" -ge 100 ] || continue
  echo "$(pct "$off" 0.99) $(pct "$on" 0.99)" >> "$d/pairs"
done
awk '
  function t95(df,  t) { split("12.71 4.30 3.18 2.78 2.57 2.45 2.36 2.31 2.26 2.23 2.20 2.18 2.16 2.14 2.13", t, " "); return df <= 15 ? t[df] : 2.0 }
  $1 > 0 && $2 > 0 { n++; x = log($2 / $1); s += x; q += x * x; up += ($2 > $1) }
  END { if (n < 2) { print "pairs: too few"; exit }; m = s / n; sd = sqrt((q - n * m * m) / (n - 1)); h = t95(n - 1) * sd / sqrt(n)
    printf "pairs: %d; geometric mean on/off p99 %.3f (95 %% interval %.3f-%.3f); on slower in %d\n", n, exp(m), exp(m - h), exp(m + h), up }' "$d/pairs"
# Records: every call whose records were being made (CDRs on when it started) is written.
# (the backends commit within 250 ms; wait at most 30 s for the two to agree)
for _ in $(seq 60); do
  sleep 0.5
  recs=$(psql -qtAh 127.0.0.1 -U postgres test -c "SELECT count(*) FROM $schema.cdr")
  lines=$(wc -l < "$d/log/cdr-csv/Master.csv" 2>/dev/null || echo 0)
  [ "$recs" = "$lines" ] && break
done
read -r onmin onmax < "$d/oncalls"
echo "PostgreSQL: $recs records; Master.csv: $lines lines; calls answered while CDRs were on: $onmin to $onmax (during a switch: either)$([ "$recs" = "$lines" ] && [ "$recs" -ge "$onmin" ] && [ "$recs" -le "$onmax" ] && echo ' (match)' || echo ' (MISMATCH)')"
echo "server: peak RSS $(awk '/VmHWM/ { printf "%.0f MB", $2 / 1024 }' "/proc/$srv/status"), channels left $("$BIN" -C "$d/etc/asterisk.conf" -rx "core show channels count" 2>&1 | awk '/active channel/ { print $1 }')"
"$BIN" -C "$d/etc/asterisk.conf" -rx "core stop now" >/dev/null 2>&1 || true
