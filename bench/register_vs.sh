#!/usr/bin/env bash
# REGISTER-with-digest throughput, Pleiades against Kamailio in the same run (issue #21): the
# scenario, Kamailio's configuration and the alternation of ../shared/bench/sip-vs-kamailio/
# (Kamailio, Pleiades, Kamailio, Pleiades at one offered rate), plus each server's CPU time per
# successful registration (all of Kamailio's processes; the server's user+system time).
#
#   bench/register_vs.sh [rate] [seconds]        (defaults 10000 15)
#   USERS=10000 bench/register_vs.sh ...         10,000 distinct peers instead of one hot peer
#   USERS=10000 RT=1 bench/register_vs.sh ...    ... Pleiades' peers from realtime (SQLite
#                                                sippeers, rtcachefriends=yes; a first pass
#                                                loads and caches them before the timed runs)
# Needs kamailio, sipp, bc (Debian: kamailio sip-tester bc); sqlite3 for RT=1.
set -u
cd "$(dirname "$0")/.."
RATE=${1:-10000} SECS=${2:-15}
N=$((RATE * SECS))
SH=../shared/bench/sip-vs-kamailio
[ -d "$SH" ] || SH=/work/shared/bench/sip-vs-kamailio
for c in kamailio sipp bc; do command -v $c >/dev/null || { echo "$c missing" >&2; exit 1; }; done
make -s build
. bench/lib.sh
kp=$(free_port) pp=$(free_port) sp=$(free_port)
W=$(mktemp -d /tmp/regvs.XXXX)
KP="" PP=""
cleanup() { kill $KP $PP 2>/dev/null; sleep 1; kill -9 $KP $PP 2>/dev/null; [ -f "$W/kam.pid" ] && kill "$(cat "$W/kam.pid")" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
SC=$SH/register.xml CSV=""
if [ -n "${USERS:-}" ]; then
  SC=$SH/register-csv.xml CSV="-inf $W/users.csv"
  { echo SEQUENTIAL; for ((i = 0; i < USERS; i++)); do printf 'u%05d;[authentication username=u%05d password=s3cr3t]\n' $i $i; done; } >"$W/users.csv"
fi
sed "s/listen=udp:127.0.0.1:15070/listen=udp:127.0.0.1:$kp/" "$SH/registrar.cfg" >"$W/kam.cfg"
kamailio -f "$W/kam.cfg" -P "$W/kam.pid" -m 256 -M 16 -DD -E >"$W/kam.log" 2>&1 & KP=$!
asterisk_conf "$W/pl" regvs
printf '[logfiles]\nconsole => error\n' >"$W/pl/etc/logger.conf"
{
  printf '[general]\nudpbindaddr=127.0.0.1:%s\nrealm=127.0.0.1\n' "$pp"
  [ -n "${RT:-}" ] && printf 'rtcachefriends=yes\nrtautoclear=no\n'
  printf '\n[alice]\ntype=friend\nhost=dynamic\nsecret=s3cr3t\ncontext=default\n\n'
  if [ -z "${RT:-}" ]; then
    for ((i = 0; i < ${USERS:-0}; i++)); do printf '[u%05d]\ntype=friend\nhost=dynamic\nsecret=s3cr3t\ncontext=default\n\n' $i; done
  fi
} >"$W/pl/etc/sip.conf"
if [ -n "${RT:-}" ]; then
  command -v sqlite3 >/dev/null || { echo "sqlite3 missing" >&2; exit 1; }
  printf '[settings]\nsippeers => sqlite3,regvs,sippeers\n' >"$W/pl/etc/extconfig.conf"
  printf '[regvs]\ndbfile => %s/rt.sqlite3\n' "$W" >"$W/pl/etc/res_config_sqlite3.conf"
  sqlite3 "$W/rt.sqlite3" <internal/realtime/sqlite/schema.sql
  sqlite3 "$W/rt.sqlite3" "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i < ${USERS:-1} - 1)
    INSERT INTO sippeers (name, secret, host, type, context) SELECT printf('u%05d', i), 's3cr3t', 'dynamic', 'friend', 'default' FROM n;"
fi
bin/pleiades -f -C "$W/pl/etc/asterisk.conf" >"$W/pl.log" 2>&1 & PP=$!
for _ in $(seq 100); do [ -S "$W/pl/run/pleiades.ctl" ] && break; sleep 0.1; done
sleep 1
cpu() { for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | paste -sd+ | bc; }
run() { # name port
  local t0 t1 out succ fail c0 c1 pids
  if [ "$1" = kamailio ]; then pids=$(pgrep -x kamailio); else pids=$PP; fi
  c0=$(cpu $pids) t0=$(date +%s.%N)
  out=$(timeout $((SECS + 30)) sipp 127.0.0.1:$2 -sf "$SC" $CSV -s alice -au alice -ap s3cr3t -r "$RATE" -m "$N" -l 20000 \
    -p "$sp" -i 127.0.0.1 -timeout $((SECS + 20))s -nostdin 2>&1)
  t1=$(date +%s.%N) c1=$(cpu $pids)
  succ=$(echo "$out" | sed -n 's/^ *Successful call *| *[0-9]* *| *\([0-9]*\).*/\1/p' | tail -1)
  fail=$(echo "$out" | sed -n 's/^ *Failed call *| *[0-9]* *| *\([0-9]*\).*/\1/p' | tail -1)
  printf '%-9s %6.0f registrations/s  failed %s  (%s in %.1f s)  CPU %.1f µs per registration\n' "$1" \
    "$(echo "${succ:-0} / ($t1 - $t0)" | bc -l)" "${fail:-?}" "${succ:-0}" "$(echo "$t1 - $t0" | bc -l)" \
    "$(echo "($c1 - $c0) * 1000000 / $(getconf CLK_TCK) / ${succ:-1}" | bc -l)"
  if [ "${fail:-0}" != 0 ]; then # sipp's message table: retransmissions, timeouts, unexpected answers
    echo "$out" | grep -E '^ +(REGISTER|[0-9]{3}) ' | tail -4 | sed 's/^/          /'
  fi
}
if [ -n "${RT:-}" ]; then # load and cache every realtime peer first (untimed)
  sipp 127.0.0.1:$pp -sf "$SC" $CSV -r 2000 -m "${USERS:-1}" -l 20000 -p "$sp" -i 127.0.0.1 -timeout 60s -nostdin >/dev/null 2>&1
fi
echo "offered $RATE/s for $SECS s, ${USERS:-1} peer(s)${RT:+ (Pleiades: realtime, cached)}; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in 1 2; do run kamailio "$kp"; run pleiades "$pp"; done
