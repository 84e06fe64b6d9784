# Shared by the bench scripts (sourced, not run).

# free_port prints a port free on 127.0.0.1 at the time of asking.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# asterisk_conf DIR SYSTEMNAME [OPTION-LINE...] writes DIR/etc/asterisk.conf with every
# directory of the server under DIR, systemname and any further [options] lines.
asterisk_conf() {
  local d=$1 name=$2
  shift 2
  mkdir -p "$d/etc"
  {
    echo '[directories]'
    echo "astetcdir => $d/etc"
    echo "astvarlibdir => $d/lib"
    echo "astdbdir => $d/lib"
    echo "astrundir => $d/run"
    echo "astlogdir => $d/log"
    echo '[options]'
    echo "systemname = $name"
    for o in "$@"; do echo "$o"; done
  } > "$d/etc/asterisk.conf"
}

# cdr_bench_setup DIR NAME SIPPORT WAIT: the server set-up of the CDR call benches
# (cdrcalls.sh, cdrsetup.sh): a scratch PostgreSQL schema NAME with Asterisk's cdr table,
# asterisk_conf in DIR with its spool there, cdr_pgsql.conf into NAME.cdr, alice
# (insecure=invite) calling exten 300 = Answer(), Wait(WAIT). SQLITE=no leaves out the
# embedded master.db. cdr_bench_drop NAME removes the schema.
cdr_bench_setup() {
  local d=$1 schema=$2 sp=$3 wait=$4
  psql -qh 127.0.0.1 -U postgres test -c "CREATE SCHEMA $schema" -c "CREATE TABLE $schema.cdr (accountcode VARCHAR(80), src VARCHAR(80),
    dst VARCHAR(80), dcontext VARCHAR(80), clid VARCHAR(80), channel VARCHAR(80), dstchannel VARCHAR(80), lastapp VARCHAR(80),
    lastdata VARCHAR(80), start TIMESTAMP, answer TIMESTAMP, \"end\" TIMESTAMP, duration INTEGER, billsec INTEGER,
    disposition VARCHAR(45), amaflags VARCHAR(45), userfield VARCHAR(256), uniqueid VARCHAR(150), linkedid VARCHAR(150),
    peeraccount VARCHAR(80), sequence INTEGER)" >/dev/null
  asterisk_conf "$d" "$schema"
  # The spool (cdr/pgsql.queue, cdr/sqlite3.queue) in the scratch directory, not a shared default.
  sed -i "/^astlogdir/a astspooldir => $d/spool" "$d/etc/asterisk.conf"
  [ "${SQLITE:-yes}" = no ] && printf '[master]\nenabled = no\n' > "$d/etc/cdr_sqlite3_custom.conf"
  printf '[logfiles]\nconsole => warning\n' > "$d/etc/logger.conf"
  printf '[general]\nrtpstart = 10000\nrtpend = 20000\n' > "$d/etc/rtp.conf"
  printf '[calls]\nexten => 300,1,Answer()\n same => n,Wait(%s)\n same => n,Hangup()\n' "$wait" > "$d/etc/extensions.conf"
  printf '[general]\nudpbindaddr = 127.0.0.1:%s\nrealm = pleiades\ncontext = calls\ndisallow = all\nallow = alaw\n[alice]\ntype = friend\nhost = dynamic\nsecret = wonderland\ninsecure = invite\ncontext = calls\n' "$sp" > "$d/etc/sip.conf"
  printf '[global]\nhostname = 127.0.0.1\nport = 5432\ndbname = test\nuser = postgres\ntable = %s.cdr\nappname = %s\n' "$schema" "$schema" > "$d/etc/cdr_pgsql.conf"
}
# cdr_bench_init NAME WAIT: the CDR benches' common start, in the calling script: psql
# there, BIN built unless given, a free SIP port in sp, a scratch directory in d
# (/tmp/plNAME.XXXX, kept with KEEP=1), the scratch schema NAME_<pid> in schema, the server's
# set-up (cdr_bench_setup, calls that Wait(WAIT)); at exit everything in pids is killed and
# the schema dropped.
cdr_bench_init() {
  command -v psql >/dev/null || { echo "psql missing" >&2; exit 1; }
  [ -n "${BIN:-}" ] || { make -s build; BIN=bin/pleiades; }
  sp=$(free_port)
  d=$(mktemp -d "/tmp/pl$1.XXXX")
  schema="$1_$$"
  pids=()
  trap cdr_bench_cleanup EXIT
  cdr_bench_setup "$d" "$schema" "$sp" "$2"
}
cdr_bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  cdr_bench_drop "$schema"
  [ -n "${KEEP:-}" ] || rm -rf "$d"
}
cdr_bench_drop() { psql -qh 127.0.0.1 -U postgres test -c "DROP SCHEMA IF EXISTS $1 CASCADE" >/dev/null 2>&1 || true; }

# cputicks PID: user+system clock ticks the process has used (0 when it is gone).
cputicks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# cdr ENABLE: cdr.conf enable=ENABLE in $d, reloaded when the server ($BIN) runs.
cdr() { printf '[general]\nenable = %s\n' "$1" > "$d/etc/cdr.conf"; [ -S "$d/run/pleiades.ctl" ] && "$BIN" -C "$d/etc/asterisk.conf" -rx "module reload cdr" >/dev/null; return 0; }

# cdr_bench_start: the CDR benches' server ($BIN in $d, CDRs off) started and ready; its PID
# in srv and in pids.
cdr_bench_start() {
  cdr no
  "$BIN" -f -C "$d/etc/asterisk.conf" >"$d/server.log" 2>&1 &
  srv=$!
  pids+=("$srv")
  for _ in $(seq 100); do [ -S "$d/run/pleiades.ctl" ] && break; sleep 0.1; done
}
