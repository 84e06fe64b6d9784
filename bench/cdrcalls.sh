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
# failed, p50/p90/p99 of the setup time, then the records PostgreSQL holds.
#
#   bench/cdrcalls.sh [rate] [seconds] [rounds]     (defaults 200 20 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-200} secs=${2:-20} rounds=${3:-3}
command -v sipp >/dev/null || { echo "sipp missing (Debian: apt-get install sip-tester)" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql missing" >&2; exit 1; }
make -s build
. bench/lib.sh
sp=$(free_port) ap=$(free_port)
d=$(mktemp -d /tmp/plcdrcalls.XXXX)
schema="cdrcalls_$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  psql -qh 127.0.0.1 -U postgres test -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$d"
}
trap cleanup EXIT
psql -qh 127.0.0.1 -U postgres test -c "CREATE SCHEMA $schema" -c "CREATE TABLE $schema.cdr (accountcode VARCHAR(80), src VARCHAR(80),
  dst VARCHAR(80), dcontext VARCHAR(80), clid VARCHAR(80), channel VARCHAR(80), dstchannel VARCHAR(80), lastapp VARCHAR(80),
  lastdata VARCHAR(80), start TIMESTAMP, answer TIMESTAMP, \"end\" TIMESTAMP, duration INTEGER, billsec INTEGER,
  disposition VARCHAR(45), amaflags VARCHAR(45), userfield VARCHAR(256), uniqueid VARCHAR(150), linkedid VARCHAR(150),
  peeraccount VARCHAR(80), sequence INTEGER)" >/dev/null
asterisk_conf "$d" cdrcalls
printf '[logfiles]\nconsole => warning\n' > "$d/etc/logger.conf"
printf '[general]\nrtpstart = 10000\nrtpend = 20000\n' > "$d/etc/rtp.conf"
printf '[calls]\nexten => 300,1,Answer()\n same => n,Wait(5)\n same => n,Hangup()\n' > "$d/etc/extensions.conf"
printf '[general]\nudpbindaddr = 127.0.0.1:%s\nrealm = pleiades\ncontext = calls\ndisallow = all\nallow = alaw\n[alice]\ntype = friend\nhost = dynamic\nsecret = wonderland\ninsecure = invite\ncontext = calls\n' "$sp" > "$d/etc/sip.conf"
printf '[global]\nhostname = 127.0.0.1\nport = 5432\ndbname = test\nuser = postgres\ntable = %s.cdr\n' "$schema" > "$d/etc/cdr_pgsql.conf"
cdr() { printf '[general]\nenable = %s\n' "$1" > "$d/etc/cdr.conf"; [ -S "$d/run/pleiades.ctl" ] && bin/pleiades -C "$d/etc/asterisk.conf" -rx "module reload cdr" >/dev/null; return 0; }
cdr no
bin/pleiades -f -C "$d/etc/asterisk.conf" >"$d/server.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do [ -S "$d/run/pleiades.ctl" ] && break; sleep 0.1; done
echo "cdr calls bench: $(nproc) CPUs, $rate calls/s, $secs s a phase, $rounds rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"

# phase KIND N: one sipp run; its response times are appended to $d/KIND.rtt
phase() {
  local kind=$1 n=$2 w=$d/$1-$2
  mkdir -p "$w"
  cdr "$([ "$kind" = on ] && echo yes || echo no)"
  (cd "$w" && sipp "127.0.0.1:$sp" -sf "$OLDPWD/bench/sipp/call-uac.xml" -s 300 -m $((rate * secs)) -r "$rate" -l 3000 -t u1 \
    -p "$(free_port)" -mp "$ap" -buff_size 4194304 -nostdin -trace_rtt -rtt_freq 1 -trace_stat -fd 1 -timeout $((secs + 60)) \
    >/dev/null 2>&1) || true
  tail -n +2 "$w"/*_rtt.csv | awk -F';' 'NF >= 2 { print $2 }' >> "$d/$kind.rtt"
  awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "FailedCall(C)") c = i } END { print $c + 0 }' "$w"/*_.csv >> "$d/$kind.failed" 2>/dev/null || true
  sleep 3
}
for r in $(seq "$rounds"); do phase off "$r"; phase on "$r"; done
for kind in off on; do
  sort -g "$d/$kind.rtt" | awk -v k="$kind" -v f="$(paste -sd+ "$d/$kind.failed" 2>/dev/null | bc)" '{ v[NR] = $1 } END {
    printf "CDR %-3s %6d calls, %s failed: INVITE -> 200 p50 %.3f ms, p90 %.3f ms, p99 %.3f ms\n", k, NR, f, v[int(NR * 0.5)], v[int(NR * 0.9)], v[int(NR * 0.99)] }'
done
sleep 2
echo "PostgreSQL: $(psql -qtAh 127.0.0.1 -U postgres test -c "SELECT count(*) FROM $schema.cdr") records; Master.csv: $(wc -l < "$d/log/cdr-csv/Master.csv" 2>/dev/null || echo 0) lines"
bin/pleiades -C "$d/etc/asterisk.conf" -rx "core stop now" >/dev/null 2>&1 || true
