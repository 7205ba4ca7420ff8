#!/usr/bin/env bash
# Install and start the services the tests use, on loopback only:
#   PostgreSQL (Debian's package) for the ledger tests.
# The S3-compatible server (moto) is started by the test fixtures themselves.
# Writes .tmp/services.env with the URLs the tests read.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp
ENV_FILE=.tmp/services.env
STARTED_FILE=.tmp/pg.started  # present only when the last `start` started the server itself
PGPORT=${ASSAY_TEST_PGPORT:-54329}
PGDATA=${TMPDIR:-/tmp}/assay-test-pg-$PGPORT

as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
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

start_pg() {
  local bin
  if ! bin=$(pg_bin); then
    echo "services.sh: installing PostgreSQL (Debian package)" >&2
    apt_install postgresql postgresql-client
    bin=$(pg_bin)
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  if [ -f "$PGDATA/postmaster.pid" ] && as_pg "$bin/pg_ctl -D $PGDATA status" >/dev/null 2>&1; then
    rm -f "$STARTED_FILE"  # someone else's server: `stop --if-started` leaves it running
  else
    rm -rf "$PGDATA"
    mkdir -p "$PGDATA"
    [ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
    as_pg "$bin/initdb -D $PGDATA -U assay --auth=trust -E UTF8 >/dev/null"
    as_pg "$bin/pg_ctl -D $PGDATA -l $PGDATA/server.log -w -t 60 \
      -o \"-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDATA -c fsync=off -c max_connections=200\" start >/dev/null"
    echo "$PGDATA" >"$STARTED_FILE"
  fi
  echo "export ASSAY_TEST_PG_URL=postgresql://assay@127.0.0.1:$PGPORT/postgres" >"$ENV_FILE"
}

stop_pg() {
  local bin
  rm -f "$STARTED_FILE"
  bin=$(pg_bin) || return 0
  if [ -d "$PGDATA" ]; then
    as_pg "$bin/pg_ctl -D $PGDATA -m fast -w stop >/dev/null 2>&1" || true
    rm -rf "$PGDATA"
  fi
}

install_browser() {
  if ! command -v chromium >/dev/null 2>&1; then
    echo "services.sh: installing chromium (Debian package)" >&2
    apt_install chromium chromium-driver || echo "services.sh: chromium unavailable; browser tests will fail" >&2
  fi
}

case "${1:-start}" in
  start) start_pg; install_browser ;;
  stop)
    # --if-started: stop only a server that the last `start` started (make test uses it, so a
    # server that was already running on the port, someone else's, survives the test run).
    if [ "${2:-}" != --if-started ] || [ -f "$STARTED_FILE" ]; then stop_pg; fi ;;
  *) echo "usage: services.sh start | stop [--if-started]" >&2; exit 2 ;;
esac
