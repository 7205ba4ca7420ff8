#!/usr/bin/env bash
# Install and start the services the tests use, on loopback only:
#   PostgreSQL (Debian's package) for the ledger tests.
# The S3-compatible server (moto) is started by the test fixtures themselves.
# Writes .tmp/services.env with the URLs the tests read.
#
# One server per port is shared by every checkout and every `make test` on the machine, so who
# may stop it is decided by leases kept beside its data dir ($PGDATA.leases, under a flock):
#   start --lease PID   (make test) records a lease held for as long as process PID lives;
#   stop --lease PID    drops it, and stops the server only when no live lease remains and no
#                       one started it by hand. A lease whose process is gone does not count, so
#                       a killed `make test` neither keeps the server up forever nor blocks a stop.
#   start               (make services) starts it to keep: leases never stop it.
#   stop [--force]      (make services-stop) stops it; refuses while live leases remain, naming
#                       them, unless --force.
# A server found running with no lease dir was not started by this script (an older one, or by
# hand): it is kept, as if started by `start`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp
ENV_FILE=${ASSAY_TEST_ENV_FILE:-.tmp/services.env}
PGPORT=${ASSAY_TEST_PGPORT:-54329}
PGDATA=${ASSAY_TEST_PGDATA:-${TMPDIR:-/tmp}/assay-test-pg-$PGPORT}
LEASES=$PGDATA.leases  # one file per lease, named by its pid, plus `kept` for a by-hand start
LOCK=$PGDATA.lock

as_pg() {  # closes the lock's fd 9: a postmaster that inherited it would hold the lock for good
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*" 9>&-; else bash -c "$*" 9>&-; fi
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "services.sh: need root to apt-get install $*" >&2; return 1; fi
  if [ ! -f .tmp/apt-updated ]; then apt-get update -qq >/dev/null && touch .tmp/apt-updated; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
  done
  return 1
}

lock() {
  exec 9>"$LOCK"
  flock 9
}

# The start time of process $1 (clock ticks since boot), which tells a live lease from a pid
# reused by another process. Empty where /proc is absent.
proc_start() {
  local stat
  [ -r /proc/"$1"/stat ] || return 0
  stat=$(cat /proc/"$1"/stat 2>/dev/null) || return 0
  stat=${stat##*) }  # the command name may hold spaces; the fields after it do not
  set -- $stat
  echo "${20}"
}

lease_live() {  # lease_live FILE
  local pid started
  pid=$(basename "$1")
  started=$(head -n 1 "$1" 2>/dev/null) || return 1
  if [ -d /proc/"$pid" ]; then
    [ "$(proc_start "$pid")" = "$started" ]
  else
    kill -0 "$pid" 2>/dev/null
  fi
}

# Removes dead leases; prints the descriptions of the live ones.
live_leases() {
  local f
  [ -d "$LEASES" ] || return 0
  for f in "$LEASES"/*; do
    [ -f "$f" ] || continue
    case $(basename "$f") in kept) continue ;; *[!0-9]*) rm -f "$f"; continue ;; esac
    if lease_live "$f"; then sed -n 2p "$f"; else rm -f "$f"; fi
  done
}

server_running() {  # server_running BIN
  [ -f "$PGDATA/postmaster.pid" ] && as_pg "$1/pg_ctl -D $PGDATA status" >/dev/null 2>&1
}

start_pg() {  # start_pg [PID]: PID's lease, or none for a start to keep
  local bin lease=${1:-}
  if ! bin=$(pg_bin); then
    echo "services.sh: installing PostgreSQL (Debian package)" >&2
    apt_install postgresql postgresql-client
    bin=$(pg_bin)
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  lock
  rm -f .tmp/pg.started  # left by the version of this script before leases
  if server_running "$bin"; then
    if [ ! -d "$LEASES" ]; then
      mkdir -p "$LEASES"
      echo "found running, not started by services.sh" >"$LEASES/kept"
    fi
  else
    # A server that is not running leaves no one to keep it for: its old leases start afresh.
    rm -f "$LEASES/kept"
    live_leases >/dev/null
    rm -rf "$PGDATA"
    mkdir -p "$PGDATA" "$LEASES"
    [ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
    as_pg "$bin/initdb -D $PGDATA -U assay --auth=trust -E UTF8 >/dev/null"
    as_pg "$bin/pg_ctl -D $PGDATA -l $PGDATA/server.log -w -t 60 \
      -o \"-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDATA -c fsync=off -c max_connections=200\" start >/dev/null"
  fi
  if [ -n "$lease" ]; then
    printf '%s\npid %s: make test in %s, since %s\n' "$(proc_start "$lease")" "$lease" "$PWD" \
      "$(date -u +%FT%TZ)" >"$LEASES/$lease"
  elif [ ! -f "$LEASES/kept" ]; then
    echo "started by services.sh start in $PWD, $(date -u +%FT%TZ)" >"$LEASES/kept"
  fi
  echo "export ASSAY_TEST_PG_URL=postgresql://assay@127.0.0.1:$PGPORT/postgres" >"$ENV_FILE"
  exec 9>&-  # unlock before the browser install, which can take minutes
}

stop_pg() {
  local bin
  bin=$(pg_bin) || { rm -rf "$LEASES"; return 0; }
  if [ -d "$PGDATA" ]; then
    as_pg "$bin/pg_ctl -D $PGDATA -m fast -w stop >/dev/null 2>&1" || true
    rm -rf "$PGDATA"
  fi
  rm -rf "$LEASES"
}

release_pg() {  # release_pg PID: drop PID's lease; stop the server if it was the last one
  lock
  rm -f "$LEASES/$1"
  [ -d "$LEASES" ] || return 0  # not started by this script: someone else's to stop
  [ -f "$LEASES/kept" ] && return 0
  [ -z "$(live_leases)" ] && stop_pg
  return 0
}

force_stop_pg() {  # force_stop_pg [--force]
  local live
  lock
  live=$(live_leases)
  if [ -n "$live" ] && [ "${1:-}" != --force ]; then
    printf 'services.sh: not stopping PostgreSQL on port %s, in use by:\n%s\n' "$PGPORT" \
      "$(sed 's/^/  /' <<<"$live")" >&2
    echo "services.sh: it stops when the last of them ends; \`services.sh stop --force\` stops it now" >&2
    return 1
  fi
  stop_pg
}

install_browser() {
  if ! command -v chromium >/dev/null 2>&1; then
    echo "services.sh: installing chromium (Debian package)" >&2
    apt_install chromium chromium-driver || echo "services.sh: chromium unavailable; browser tests will fail" >&2
  fi
}

usage() {
  echo "usage: services.sh start [--lease PID] [--no-browser] | stop [--lease PID | --force]" >&2
  exit 2
}

action=${1:-start}
[ $# -gt 0 ] && shift
lease='' force='' browser=1
while [ $# -gt 0 ]; do
  case $1 in
    --lease) [ $# -ge 2 ] && [[ $2 =~ ^[0-9]+$ ]] || usage; lease=$2; shift 2 ;;
    --force) force=--force; shift ;;
    --no-browser) browser=''; shift ;;
    *) usage ;;
  esac
done
case $action in
  start) [ -z "$force" ] || usage; start_pg "$lease"; [ -z "$browser" ] || install_browser ;;
  stop)
    if [ -n "$lease" ]; then [ -z "$force" ] || usage; release_pg "$lease"; else force_stop_pg $force; fi ;;
  *) usage ;;
esac
