#!/usr/bin/env bash
# Voicemail under load (issue #16's performance goal): CALLERS concurrent sipp callers leave a
# message each in VoiceMail(1234@default,s) on the real binary: after the beep sipp plays
# /usr/share/sip-tester/g711a.pcap (7.05 s of A-law in 30 ms packets), then '#' (RFC 4733).
# Then bench/vmcheck compares every msgNNNN.wav of the spool with the pcap's audio, sample
# for sample: exact, started late (the first packets sent before the beep ended), stopped
# early, or corrupted (must be 0). The baseline first: the same callers on an extension that
# plays the beep and waits for '#' with Read() without recording (same signalling, same RTP
# received), for the CPU ratio.
#
#   bench/voicemail.sh [callers] [rate]      (defaults 200 callers, started 40/s)
#   KEEP=1 keeps the temp directory (server.log, sipp logs, the spool).
#   STORAGE=nats keeps the messages in JetStream (embedded NATS, cluster.conf jetstream=yes,
#   voicemail.conf storage=nats) instead of the spool; vmcheck reads them from there.
set -euo pipefail
cd "$(dirname "$0")/.."
callers=${1:-200} rate=${2:-40}
command -v sipp >/dev/null || { echo "sipp missing (Debian: apt-get install sip-tester)" >&2; exit 1; }
[ -r /usr/share/asterisk/sounds/en/beep.wav ] || { echo "Asterisk's sounds missing (Debian: asterisk-core-sounds-en-wav)" >&2; exit 1; }
make -s build
. bench/lib.sh
sp=$(free_port) mp=$(free_port)
d=$(mktemp -d /tmp/plvm.XXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$d"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && echo "temp directory: $d"
asterisk_conf "$d" vmbench
sed -i "s|^astlogdir => .*|&\nastspooldir => $d/spool|" "$d/etc/asterisk.conf"
printf '[logfiles]\nconsole => warning\n' > "$d/etc/logger.conf"
printf '[general]\nrtpstart = 10000\nrtpend = 20000\nstrictrtp = yes\n' > "$d/etc/rtp.conf"
printf '[calls]\nexten => 1234,1,VoiceMail(1234@default,s)\n same => n,Hangup()\nexten => 1235,1,Answer()\n same => n,Playback(beep)\n same => n,Read(X,,1,,,30)\n same => n,Playback(vm-goodbye)\n same => n,Hangup()\n' > "$d/etc/extensions.conf"
printf '[general]\nmaxmsg = 9999\nmaxsecs = 60\nminsecs = 1\nmaxsilence = 0\n\n[default]\n1234 => 4242,Bench Box\n' > "$d/etc/voicemail.conf"
storage=${STORAGE:-file}
if [ "$storage" = nats ]; then
  np=$(free_port)
  printf '[general]\nclient_listen = 127.0.0.1:%s\njetstream = yes\njetstream_dir = %s/nats\n' "$np" "$d" > "$d/etc/cluster.conf"
  sed -i 's|^\[general\]$|[general]\nstorage = nats|' "$d/etc/voicemail.conf"
fi
cat > "$d/etc/sip.conf" <<CONF
[general]
udpbindaddr = 127.0.0.1:$sp
realm = pleiades
context = calls

[alice]
type = friend
host = dynamic
secret = wonderland
context = calls
CONF

bin/pleiades -f -C "$d/etc/asterisk.conf" >"$d/server.log" 2>&1 & server=$!; pids+=($server)
for _ in $(seq 100); do [ -S "$d/run/pleiades.ctl" ] && break; sleep 0.1; done
cli() { bin/pleiades -C "$d/etc/asterisk.conf" -rx "$1"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
echo "voicemail bench: $(nproc) CPUs, $callers callers started $rate/s, storage $storage, load $(cut -d' ' -f1-3 /proc/loadavg)"
# run LABEL EXTEN: one sipp run of CALLERS callers; prints its line.
run() {
  local label=$1 exten=$2 t0 c0 rc el c1 last
  t0=$(date +%s.%N) c0=$(ticks "$server")
  set +e
  sipp "127.0.0.1:$sp" -sf test/sipp/call-vm-leave.xml -inf test/sipp/users.csv -s "$exten" -au alice -ap wonderland \
    -m "$callers" -l "$callers" -r "$rate" -t u1 -p "$(free_port)" -mp "$mp" -buff_size 4194304 -nostdin \
    -timeout 120s -trace_stat -stf "$d/$label.csv" -trace_err -error_file "$d/$label.err" >/dev/null 2>&1
  rc=$?
  set -e
  el=$(echo "$(date +%s.%N) - $t0" | bc) c1=$(ticks "$server")
  last=$(tail -1 "$d/$label.csv")
  col() { head -1 "$d/$label.csv" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
  printf '%-9s sipp exit %d in %.1f s: %s ok, %s failed; server CPU %.0f %% of one core, RSS %s MB (peak %s MB)\n' "$label" "$rc" "$el" \
    "$(echo "$last" | cut -d';' -f"$(col 'SuccessfulCall(C)')")" "$(echo "$last" | cut -d';' -f"$(col 'FailedCall(C)')")" \
    "$(echo "($c1 - $c0) / $el" | bc -l)" "$(awk '/VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$server/status")" \
    "$(awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$server/status")"
}
[ "${BASELINE:-1}" = 0 ] || { run baseline 1235; sleep 2; }
run voicemail 1234
cli "voicemail show users" | sed -n 2p
if [ "$storage" = nats ]; then
  go run ./bench/vmcheck -pcap /usr/share/sip-tester/g711a.pcap -nats "nats://127.0.0.1:$np" -mailbox 1234@default -want "$callers"
else
  go run ./bench/vmcheck -pcap /usr/share/sip-tester/g711a.pcap -dir "$d/spool/voicemail/default/1234/INBOX" -want "$callers"
fi
cli "core stop now" >/dev/null 2>&1 || true
