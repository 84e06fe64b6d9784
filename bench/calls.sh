#!/usr/bin/env bash
# sipp-driven call bench against the real binary (issue #15's performance goals):
#
#   caller (sipp UAC, bench/sipp/call-uac.xml) --INVITE--> pleiades --Dial(SIP/bob,10)--> bob
#   (sipp UAS, test/sipp/call-bob.xml with -rtp_echo, registered first from the same port).
#
# Each call: INVITE with a G.711 A-law offer, bob rings and answers after 500 ms, alice plays
# /usr/share/sip-tester/g711a.pcap, bob echoes it, alice hangs up after 2 s. directmedia=no, so
# the server relays four RTP streams per call. sipp starts RATE calls/s for SECONDS (-r RATE
# -l LIMIT -m RATE*SECONDS).
#
# For every rate, first the baseline (the same UAC straight at the same bob UAS, no server
# between), then through the server. Printed per run: call setups/s reached (successful calls
# / (wall time - 2.5 s, the length of the last call)), failed calls and %, the server's CPU
# (% of one core over the run), RSS now and peak, the load average; after the run, once the
# last call is over: RTP ports in use (/metrics pleiades_rtp_ports_in_use) and channels up
# (core show channels count), which must both come back to 0.
#
#   bench/calls.sh [rates] [seconds] [limit]     (defaults "100 200 270" 30 3000)
#   KEEP=1 keeps the temp directory (server.log, sipp logs); BASELINE=0 skips the baseline;
#   BIN=path runs that binary instead of building bin/pleiades (a before/after comparison).
#   Bob registers for an hour: keep a whole run under that.
set -euo pipefail
cd "$(dirname "$0")/.."
rates=${1:-100 200 270} secs=${2:-30} limit=${3:-3000}
command -v sipp >/dev/null || { echo "sipp missing (Debian: apt-get install sip-tester)" >&2; exit 1; }
[ -r /usr/share/sip-tester/g711a.pcap ] || { echo "/usr/share/sip-tester/g711a.pcap missing (sip-tester)" >&2; exit 1; }
[ -n "${BIN:-}" ] || { make -s build; BIN=bin/pleiades; }
. bench/lib.sh
sp=$(free_port) hp=$(free_port) bp=$(free_port) ap=$(free_port)
d=$(mktemp -d /tmp/plcalls.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$d"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && echo "temp directory: $d"
asterisk_conf "$d" callbench
printf '[logfiles]\nconsole => warning\n' > "$d/etc/logger.conf"
printf '[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %s\n' "$hp" > "$d/etc/http.conf"
# Asterisk's default range: the goal is that it suffices, ports going back at hangup.
printf '[general]\nrtpstart = 10000\nrtpend = 20000\nstrictrtp = yes\n' > "$d/etc/rtp.conf"
printf '[calls]\nexten => 200,1,Dial(SIP/bob,10)\n same => n,Hangup()\n' > "$d/etc/extensions.conf"
cat > "$d/etc/sip.conf" <<CONF
[general]
udpbindaddr = 127.0.0.1:$sp
realm = pleiades
context = calls
maxexpiry = 3600
directmedia = no
disallow = all
allow = alaw

[alice]
type = friend
host = dynamic
secret = wonderland
insecure = invite
context = calls

[bob]
type = friend
host = dynamic
secret = builder
context = calls
CONF

"$BIN" -f -C "$d/etc/asterisk.conf" >"$d/server.log" 2>&1 & server=$!; pids+=($server)
for _ in $(seq 100); do [ -S "$d/run/pleiades.ctl" ] && break; sleep 0.1; done
cli() { "$BIN" -C "$d/etc/asterisk.conf" -rx "$1"; }
metric() { curl -s "http://127.0.0.1:$hp/metrics" | awk -v m="$1" '$1 == m { printf "%s", $2 }'; }
rss() { awk '/VmRSS/ { printf "%d MB", $2 / 1024 }' "/proc/$server/status"; }
hwm() { awk '/VmHWM/ { printf "%d MB", $2 / 1024 }' "/proc/$server/status"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# bob: register from port bp, then answer there (echoing RTP, -aa answering qualify OPTIONS).
# register.xml asks for 300 s: an hour here, or bob's binding expires in a long run (every
# call then fails with "Subscriber absent").
sed 's/Expires: 300/Expires: 3600/' test/sipp/register.xml > "$d/register.xml"
sipp "127.0.0.1:$sp" -sf "$d/register.xml" -inf test/sipp/users-bob.csv -m 1 -p "$bp" -t u1 -nostdin >/dev/null 2>&1 \
  || { echo "bob could not register" >&2; exit 1; }
sipp "127.0.0.1:$sp" -sf test/sipp/call-bob.xml -p "$bp" -mp "$((ap + 2000))" -rtp_echo -aa -t u1 -nostdin \
  -buff_size 4194304 -trace_err -error_file "$d/bob.err" >/dev/null 2>&1 & bob=$!; pids+=($bob)
sleep 0.5
echo "call bench: $(nproc) CPUs, $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -1), $secs s per rate, limit $limit calls, load $(load), server RSS $(rss)"

# run LABEL TARGET RATE: one UAC run; prints its line.
run() {
  local label=$1 target=$2 rate=$3 total=$((rate * secs)) st=$d/$1-$3.csv rc t0 el t0s t1s t0b t1b
  t0=$(now) t0s=$(ticks "$server") t0b=$(ticks "$bob")
  set +e
  sipp "$target" -sf bench/sipp/call-uac.xml -s 200 -m "$total" -r "$rate" -l "$limit" -t u1 -p "$(free_port)" -mp "$ap" \
    -buff_size 4194304 -nostdin -trace_stat -stf "$st" -fd 1 -timeout "$((secs + 120))" \
    -trace_err -error_file "$d/$label-$rate.err" >/dev/null 2>&1 &
  uac=$!
  # sample the caller's CPU (its pcap players are threads of it) just before it ends
  local t1u=0 t0u
  t0u=$(ticks "$uac")
  while kill -0 "$uac" 2>/dev/null; do t1u=$(ticks "$uac" 2>/dev/null || echo "$t1u"); sleep 0.2; done
  wait "$uac"
  rc=$?
  set -e
  el=$(echo "$(now) - $t0" | bc) t1s=$(ticks "$server") t1b=$(ticks "$bob")
  local last col ok failed
  last=$(tail -1 "$st")
  col() { head -1 "$st" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
  ok=$(echo "$last" | cut -d';' -f"$(col 'SuccessfulCall(C)')") failed=$(echo "$last" | cut -d';' -f"$(col 'FailedCall(C)')")
  # the calls were started over the time from sipp's start to the first 1 s dump that counts
  # them all (so the rate is exact to about 1 s in SECONDS)
  local created
  created=$(awk -F';' -v n="$total" -v c="$(col TotalCallCreated)" 'NR == 2 { split($1, a, "\t"); t0 = a[3] }
    NR > 1 && $c + 0 >= n { split($3, b, "\t"); printf "%.1f", b[3] - t0; exit }' "$st")
  printf '%-8s target %3d/s: %6d ok, %5d failed (%.2f %%); all started in %5s s: %5.1f setups/s; done in %5.1f s (sipp exit %d)' \
    "$label" "$rate" "$ok" "$failed" "$(echo "100 * $failed / ($ok + $failed + 0.000001)" | bc -l)" "$created" \
    "$(echo "$ok / ${created:-$el}" | bc -l)" "$el" "$rc"
  if [ "$label" = server ]; then
    printf ', server CPU %.0f %%, RSS %s (peak %s)' "$(echo "($t1s - $t0s) / ($el - 0)" | bc -l)" "$(rss)" "$(hwm)"
  fi
  printf ', CPU of bob (sipp UAS) %.0f %%, of alice (sipp UAC) %.0f %%, load %s\n' "$(echo "($t1b - $t0b) / $el" | bc -l)" "$(echo "($t1u - $t0u) / $el" | bc -l)" "$(load)"
}

for rate in $rates; do
  [ "${BASELINE:-1}" = 0 ] || run baseline "127.0.0.1:$bp" "$rate"
  r0=$(metric pleiades_rtp_relayed_packets_total) s0=$(metric pleiades_rtp_strict_dropped_packets_total) x0=$(metric pleiades_rtp_dropped_packets_total)
  run server "127.0.0.1:$sp" "$rate"
  # Every call over: ports back, no channel up, no SIP dialog left (chan_sip held ports ~32 s).
  # A call whose caller never ACKed our 200 keeps its dialog up to 64·T1 for that ACK, then up
  # to 64·T1 for the answer to our BYE (as chan_sip keeps a dialog until its BYE is answered
  # or times out): give 70 s in all.
  ports= chans= dlgs= waited=0
  for _ in $(seq 140); do
    ports=$(metric pleiades_rtp_ports_in_use) chans=$(cli "core show channels count" | awk 'NR == 1 { print $1 }')
    dlgs=$(cli 'sip show channels' | grep -o '[0-9]* active SIP dialog' | cut -d' ' -f1)
    [ "$ports" = 0 ] && [ "$chans" = 0 ] && [ "${dlgs:-0}" = 0 ] && break
    sleep 0.5; waited=$((waited + 1))
  done
  echo "         after $(awk -v w="$waited" 'BEGIN { printf "%.1f", w / 2 }') s: RTP ports in use $ports, channels up $chans, SIP dialogs ${dlgs:-0}, RTP packets relayed $(awk -v a="$(metric pleiades_rtp_relayed_packets_total)" -v b="$r0" 'BEGIN { printf "%d", a - b }') (dropped by strictrtp $(awk -v a="$(metric pleiades_rtp_strict_dropped_packets_total)" -v b="$s0" 'BEGIN { printf "%d", a - b }'), other drops $(awk -v a="$(metric pleiades_rtp_dropped_packets_total)" -v b="$x0" 'BEGIN { printf "%d", a - b }')), goroutines $(metric go_goroutines), heap in use $(metric go_memstats_heap_inuse_bytes | awk '{ printf "%d", $1 / 1048576 }') MB"
  sleep 2
done
cli "core stop now" >/dev/null 2>&1 || true
