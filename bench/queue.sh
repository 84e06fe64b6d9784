#!/usr/bin/env bash
# Queue soak against the real binary (issue 17: "200 callers/minute through a queue of 50 sipp
# members for 10 minutes: no caller lost, no leaked channel, memory flat"):
#
#   callers (sipp UAC, bench/sipp/queue-uac.xml) --INVITE 400--> pleiades Queue(soak,r)
#   --rrmemory, ringinuse=no--> agent01..agentNN (one sipp UAS, test/sipp/call-bob.xml with
#   -rtp_echo, every agent registered from its port first).
#
# Each caller waits hearing ringing until a free member answers (500 ms after its INVITE),
# then plays /usr/share/sip-tester/g711a.pcap to the member, who echoes it, and hangs up after
# TALK seconds (directmedia=no: the server relays the four RTP streams). sipp starts PER_MIN
# callers a minute (-r PER_MIN -rp 60000) for SECONDS.
#
# Printed: the server's RSS every 15 s; at the end the callers (sipp successful/failed), the
# queue_log counts (ENTERQUEUE, CONNECT, COMPLETECALLER+COMPLETEAGENT, ABANDON,
# EXITWITHTIMEOUT, EXITEMPTY, RINGNOANSWER), the longest wait (CONNECT's hold time), the
# server's CPU, RSS at start and end and its peak; once the last call is over:
# channels up, RTP ports in use, callers still in the queue and goroutines, which must come
# back to 0 (goroutines: to the idle count). A caller is lost when it did not complete with a
# member (sipp failed, ABANDON, EXIT*).
#
#   bench/queue.sh [seconds] [callers-per-minute] [members] [talk-seconds]   (600 200 50 10)
#   KEEP=1 keeps the temp directory (server.log, sipp logs). Run it niced on a shared box:
#   nice -n 10 bench/queue.sh 120
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600} permin=${2:-200} members=${3:-50} talk=${4:-10}
command -v sipp >/dev/null || { echo "sipp missing (Debian: apt-get install sip-tester)" >&2; exit 1; }
[ -r /usr/share/sip-tester/g711a.pcap ] || { echo "/usr/share/sip-tester/g711a.pcap missing (sip-tester)" >&2; exit 1; }
make -s build
. bench/lib.sh
sp=$(free_port) hp=$(free_port) bp=$(free_port) ap=$(free_port)
d=$(mktemp -d /tmp/plqueue.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$d"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && echo "temp directory: $d"
asterisk_conf "$d" queuebench
printf '[logfiles]\nconsole => warning\n' > "$d/etc/logger.conf"
printf '[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = %s\n' "$hp" > "$d/etc/http.conf"
printf '[general]\nrtpstart = 10000\nrtpend = 20000\nstrictrtp = yes\n' > "$d/etc/rtp.conf"
printf '[calls]\nexten => 400,1,Queue(soak,r,,,300)\n same => n,Hangup()\n' > "$d/etc/extensions.conf"
{
  printf '[general]\nudpbindaddr = 127.0.0.1:%s\nrealm = pleiades\ncontext = calls\nmaxexpiry = 3600\n' "$sp"
  printf 'directmedia = no\ndisallow = all\nallow = alaw\n\n'
  printf '[alice]\ntype = friend\nhost = dynamic\nsecret = wonderland\ninsecure = invite\ncontext = calls\n'
} > "$d/etc/sip.conf"
printf '[soak]\nstrategy = rrmemory\nringinuse = no\ntimeout = 15\nretry = 1\nautofill = yes\n' > "$d/etc/queues.conf"
echo SEQUENTIAL > "$d/agents.csv"
for i in $(seq -w 1 "$members"); do
  printf '\n[agent%s]\ntype = friend\nhost = dynamic\nsecret = pw%s\ncontext = calls\n' "$i" "$i" >> "$d/etc/sip.conf"
  echo "member => SIP/agent$i" >> "$d/etc/queues.conf"
  echo "agent$i;[authentication username=agent$i password=pw$i]" >> "$d/agents.csv"
done

bin/pleiades -f -C "$d/etc/asterisk.conf" >"$d/server.log" 2>&1 & server=$!; pids+=($server)
for _ in $(seq 100); do [ -S "$d/run/pleiades.ctl" ] && break; sleep 0.1; done
cli() { bin/pleiades -C "$d/etc/asterisk.conf" -rx "$1"; }
metric() { curl -s "http://127.0.0.1:$hp/metrics" | awk -v m="$1" '$1 == m { printf "%s", $2 }'; }
rsskb() { awk '/VmRSS/ { print $2 }' "/proc/$server/status"; }
hwm() { awk '/VmHWM/ { printf "%d MB", $2 / 1024 }' "/proc/$server/status"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# The agents: every one registers from port bp (an hour), then one UAS answers them all there.
sed 's/Expires: 300/Expires: 3600/' test/sipp/register.xml > "$d/register.xml"
sipp "127.0.0.1:$sp" -sf "$d/register.xml" -inf "$d/agents.csv" -m "$members" -r 50 -p "$bp" -t u1 -nostdin >/dev/null 2>&1 \
  || { echo "the agents could not register" >&2; exit 1; }
sipp "127.0.0.1:$sp" -sf test/sipp/call-bob.xml -p "$bp" -mp "$((ap + 2000))" -rtp_echo -aa -t u1 -nostdin \
  -buff_size 4194304 -trace_err -error_file "$d/agents.err" >/dev/null 2>&1 & uas=$!; pids+=($uas)
sleep 1
registered=$(cli "sip show peers" | grep '^agent' | grep -c '127\.0\.0\.1' || true)
idle_g=$(metric go_goroutines)
rss0=$(rsskb)
total=$((permin * secs / 60))
echo "queue soak: $(nproc) CPUs, $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -1), $total callers at $permin/min for $secs s, $members members ($registered registered), talk $talk s, load $(load), server RSS $((rss0 / 1024)) MB, goroutines $idle_g"

# RSS every 15 s while the callers run.
(
  t=0
  while kill -0 "$server" 2>/dev/null; do
    sleep 15; t=$((t + 15))
    printf '  %4d s: RSS %d MB, channels %s, waiting %s, load %s\n' "$t" "$(($(rsskb) / 1024))" \
      "$(cli 'core show channels count' | awk 'NR == 1 { print $1 }')" \
      "$(cli 'queue show soak' | grep -o 'has [0-9]* calls' | cut -d' ' -f2)" "$(load)"
  done
) & sampler=$!; pids+=($sampler)

st=$d/callers.csv
t0=$(now) t0s=$(ticks "$server")
set +e
sipp "127.0.0.1:$sp" -sf bench/sipp/queue-uac.xml -s 400 -m "$total" -r "$permin" -rp 60000 -l 2000 -d "$((talk * 1000))" \
  -t u1 -p "$(free_port)" -mp "$ap" -buff_size 4194304 -nostdin -trace_stat -stf "$st" -fd 5 -timeout "$((secs + 600))" \
  -trace_err -error_file "$d/callers.err" >/dev/null 2>&1
rc=$?
set -e
el=$(echo "$(now) - $t0" | bc) t1s=$(ticks "$server")
kill "$sampler" 2>/dev/null || true
last=$(tail -1 "$st")
col() { head -1 "$st" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
ok=$(echo "$last" | cut -d';' -f"$(col 'SuccessfulCall(C)')") failed=$(echo "$last" | cut -d';' -f"$(col 'FailedCall(C)')")
rss1=$(rsskb)
ql() { grep -c "|$1|" "$d/log/queue_log" || true; }
maxwait=$(awk -F'|' '$5 == "CONNECT" && $6 + 0 > m { m = $6 + 0 } END { printf "%d s", m }' "$d/log/queue_log")
printf 'callers: %d ok, %d failed (sipp exit %d) in %.0f s; queue_log: ENTERQUEUE %d, CONNECT %d, COMPLETE %d, ABANDON %d, EXITWITHTIMEOUT %d, EXITEMPTY %d, RINGNOANSWER %d; longest wait %s\n' \
  "$ok" "$failed" "$rc" "$el" "$(ql ENTERQUEUE)" "$(ql CONNECT)" "$(( $(ql COMPLETECALLER) + $(ql COMPLETEAGENT) ))" "$(ql ABANDON)" \
  "$(ql EXITWITHTIMEOUT)" "$(ql EXITEMPTY)" "$(ql RINGNOANSWER)" "$maxwait"
printf 'server: CPU %.0f %% of one core, RSS %d MB at start, %d MB at the end, peak %s\n' \
  "$(echo "($t1s - $t0s) / $el" | bc -l)" "$((rss0 / 1024))" "$((rss1 / 1024))" "$(hwm)"
# Every call over: no channel, no RTP port, nobody in the queue.
for _ in $(seq 80); do
  ports=$(metric pleiades_rtp_ports_in_use) chans=$(cli "core show channels count" | awk 'NR == 1 { print $1 }')
  [ "$ports" = 0 ] && [ "$chans" = 0 ] && break
  sleep 0.5
done
echo "after: channels up $chans, RTP ports in use $ports, callers in the queue $(cli 'queue show soak' | grep -o 'has [0-9]* calls' | cut -d' ' -f2), SIP dialogs $(cli 'sip show channels' | grep -o '[0-9]* active SIP dialog' | cut -d' ' -f1), goroutines $(metric go_goroutines) (idle before: $idle_g)"
cli "core stop now" >/dev/null 2>&1 || true
