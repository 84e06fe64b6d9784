#!/usr/bin/env bash
# sipp-driven SIP bench against the real binary (issue #8's two performance goals):
#
#  1. REGISTER with digest for N distinct realtime peers (sippeers in SQLite, rtcachefriends=yes):
#     a first pass loads and caches every peer, then sipp registers them again at a target
#     rate for a while; the rate reached, failures and the server's RSS are printed.
#  2. S dialog subscriptions (BLF) to one hint (exten 100, hint Custom:bench), opened by sipp;
#     then R changes of the hint's device ("devstate change" through the CLI). After each, the
#     server's own fan-out time (pleiades_sip_notify_fanout_last_seconds: every NOTIFY handed
#     to the kernel) and the time until all S NOTIFYs were answered are printed. sipp checks
#     that every subscriber got the first NOTIFY and one per change (its calls end then).
#
#   bench/sipp.sh [peers] [register-rate] [seconds] [subscriptions] [rounds] [sipp-processes]
#                                  (defaults 10000 6000 30 10000 10 1)
set -euo pipefail
cd "$(dirname "$0")/.."
peers=${1:-10000} rate=${2:-6000} secs=${3:-30} subs=${4:-10000} rounds=${5:-10} procs=${6:-1}
command -v sipp >/dev/null || { echo "sipp missing (Debian: apt-get install sip-tester)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "sqlite3 missing (Debian: apt-get install sqlite3)" >&2; exit 1; }
go build -o bin/pleiades ./cmd/pleiades
. bench/lib.sh
sp=$(free_port) hp=$(free_port)
d=$(mktemp -d /tmp/plsipp.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$d"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
asterisk_conf "$d" sippbench
printf '[logfiles]\nconsole => error\n' > "$d/etc/logger.conf"
printf '[settings]\nsippeers => sqlite3,bench,sippeers\n' > "$d/etc/extconfig.conf"
printf '[bench]\ndbfile => %s/rt.sqlite3\n' "$d" > "$d/etc/res_config_sqlite3.conf"
printf '[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %s\n' "$hp" > "$d/etc/http.conf"
printf '[blf]\nexten => 100,hint,Custom:bench\n' > "$d/etc/extensions.conf"
cat > "$d/etc/sip.conf" <<CONF
[general]
udpbindaddr = 127.0.0.1:$sp
realm = pleiades
rtcachefriends = yes
rtautoclear = no
maxexpiry = 3600
maxsubscriptions = $((subs + 100))
maxsubscriptionsperpeer = $((subs + 100))

[blf]
type = friend
host = dynamic
secret = blfpw
subscribecontext = blf
CONF
sqlite3 "$d/rt.sqlite3" < internal/realtime/sqlite/schema.sql
sqlite3 "$d/rt.sqlite3" "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i < $peers - 1)
  INSERT INTO sippeers (name, secret, host, type, context) SELECT printf('p%06d', i), 'pw' || i, 'dynamic', 'friend', 'bench' FROM n;"
{ echo SEQUENTIAL; for ((i = 0; i < peers; i++)); do printf 'p%06d;[authentication username=p%06d password=pw%d]\n' $i $i $i; done; } > "$d/users.csv"
{ echo SEQUENTIAL; echo 'blf;[authentication username=blf password=blfpw]'; } > "$d/blf.csv"

bin/pleiades -f -C "$d/etc/asterisk.conf" >"$d/server.log" 2>&1 & server=$!; pids+=($server)
for _ in $(seq 100); do [ -S "$d/run/pleiades.ctl" ] && break; sleep 0.1; done
cli() { bin/pleiades -C "$d/etc/asterisk.conf" -rx "$1"; }
metric() { curl -s "http://127.0.0.1:$hp/metrics" | awk -v m="$1" '$1 == m { printf "%s", $2 }'; }
rss() { awk '/VmRSS/ { printf "%d MB", $2 / 1024 }' "/proc/$server/status"; }
now() { date +%s.%N; }
cli "devstate change Custom:bench NOT_INUSE" >/dev/null
echo "sipp bench: $(nproc) CPUs, $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -1), server RSS $(rss)"

if [ "$peers" -gt 0 ]; then
  echo "== REGISTER with digest, $peers distinct realtime peers"
  t0=$(now)
  sipp "127.0.0.1:$sp" -sf test/sipp/register.xml -inf "$d/users.csv" -m "$peers" -r 2000 -l 2000 -t u1 \
    -buff_size 4194304 -nostdin >/dev/null 2>&1 || echo "first pass: some registrations failed" >&2
  echo "first pass (every peer loaded from SQLite and cached): $peers in $(echo "$(now) - $t0" | bc) s, server RSS $(rss)"
  total=$((rate * secs))
  t0=$(now)
  set +e
  sipp "127.0.0.1:$sp" -sf test/sipp/register.xml -inf "$d/users.csv" -m "$total" -r "$rate" -l 4000 -t u1 \
    -buff_size 4194304 -nostdin -trace_stat -stf "$d/reg.csv" -fd 1000 >/dev/null 2>&1
  rc=$?
  set -e
  el=$(echo "$(now) - $t0" | bc)
  last=$(tail -1 "$d/reg.csv")
  col() { head -1 "$d/reg.csv" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
  ok=$(echo "$last" | cut -d';' -f"$(col 'SuccessfulCall(C)')") failed=$(echo "$last" | cut -d';' -f"$(col 'FailedCall(C)')")
  printf 'sustained (cached), target %d/s: %d registrations in %.1f s = %d/s, %d failed (sipp exit %d), server RSS %s\n' \
    "$rate" "$ok" "$el" "$(echo "$ok / $el" | bc)" "$failed" "$rc" "$(rss)"
fi

if [ "$subs" -gt 0 ]; then
  echo "== $subs dialog subscriptions to hint 100@blf (Custom:bench), $procs sipp processes, $rounds changes"
  sed "s/@ROUNDS@/$rounds/g" bench/sipp/subscribe-fanout.xml > "$d/subscribe.xml"
  per=$((subs / procs))
  subs=$((per * procs))
  spids=()
  for ((p = 0; p < procs; p++)); do
    ${SIPP_NICE:+nice -n $SIPP_NICE} sipp "127.0.0.1:$sp" -sf "$d/subscribe.xml" -s 100 -inf "$d/blf.csv" -m "$per" -r 2000 -l "$per" -t u1 \
      -buff_size 4194304 -nostdin -trace_err -error_file "$d/sub$p.err" >/dev/null 2>&1 & spids+=($!); pids+=($!)
  done
  t0=$(now)
  for _ in $(seq 600); do [ "$(metric pleiades_sip_subscriptions)" = "$subs" ] && break; sleep 0.1; done
  echo "established $(metric pleiades_sip_subscriptions) subscriptions in $(echo "$(now) - $t0" | bc) s; server RSS $(rss)"
  sleep 1
  state=INUSE
  for ((r = 1; r <= rounds; r++)); do
    before=$(metric pleiades_sip_notifies_total)
    cli "devstate change Custom:bench $state" >/dev/null
    # no scraping while the NOTIFYs go out: a scrape costs the server CPU the fan-out needs
    sleep 0.5
    sent=$(( $(metric pleiades_sip_notifies_total) - before ))
    printf 'round %2d (%-9s): %d NOTIFYs, server fan-out %6.1f ms (from the change to the last NOTIFY handed to the kernel)\n' \
      "$r" "$state" "$sent" "$(echo "$(metric pleiades_sip_notify_fanout_last_seconds) * 1000" | bc -l)"
    [ $state = INUSE ] && state=NOT_INUSE || state=INUSE
    sleep 0.3
  done
  fails=0
  for p in "${spids[@]}"; do wait "$p" || fails=$((fails + 1)); done
  echo "sipp: $((procs - fails)) of $procs processes saw every subscriber get the first NOTIFY and all $rounds changes; NOTIFY failures on the server: $(metric pleiades_sip_notify_failures_total); server RSS $(rss)"
fi
cli "core stop now" >/dev/null 2>&1 || true
