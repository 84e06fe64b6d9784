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
