#!/usr/bin/env bash
# A private PostgreSQL server for Cinema: its own cluster under .run/postgres (Debian's
# `postgresql` binaries, nothing system-wide: no service, no system user, no /etc change),
# listening on 127.0.0.1:$PG_PORT (5433), superuser $PG_USER (`cinema`), trust authentication on
# loopback.
#
#   scripts/postgres.sh start            init the cluster if needed, start it, wait until it answers
#   scripts/postgres.sh stop             fast shutdown
#   scripts/postgres.sh status
#   scripts/postgres.sh createdb NAME…   create these databases unless they exist
#   scripts/postgres.sh url [DB]         postgres://cinema@127.0.0.1:5433/DB
#   scripts/postgres.sh drop-test-databases   the test_* databases the tests leave
#
# PostgreSQL refuses to run as root: as root the cluster belongs to `nobody` and every server
# command runs as it (setpriv), so CI and a developer's shell behave the same.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_DIR="${PG_DIR:-$RUN_DIR/postgres}"
PG_PORT="${PG_PORT:-5433}"
PG_USER="${PG_USER:-cinema}"
PG_DATA="$PG_DIR/data"
PG_LOG="$LOG_DIR/postgres.log"

pg_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [[ -n "$dir" ]] || die "postgres: no PostgreSQL server binaries (/usr/lib/postgresql/*/bin); make setup installs them"
    printf '%s/%s' "$dir" "$1"
}

as_owner() {
    if ((EUID == 0)); then
        setpriv --reuid=nobody --regid=nogroup --clear-groups env -i PATH=/usr/bin:/bin LANG=C.UTF-8 "$@"
    else
        "$@"
    fi
}

is_running() { as_owner "$(pg_bin pg_ctl)" -D "$PG_DATA" status >/dev/null 2>&1; }

cmd_start() {
    mkdir -p "$PG_DIR" "$LOG_DIR"
    if ((EUID == 0)); then chown nobody:nogroup "$PG_DIR"; fi
    touch "$PG_LOG"
    if ((EUID == 0)); then chown nobody:nogroup "$PG_LOG"; fi
    if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
        as_owner "$(pg_bin initdb)" -D "$PG_DATA" -U "$PG_USER" --auth=trust -E UTF8 --locale=C.UTF-8 >>"$PG_LOG" 2>&1 ||
            die "postgres: initdb failed (see $PG_LOG)"
    fi
    if is_running; then
        echo "postgres: already running on 127.0.0.1:$PG_PORT"
        return 0
    fi
    tcp_open 127.0.0.1 "$PG_PORT" && die "postgres: port $PG_PORT is taken (PG_PORT=... to choose another)"
    # Sockets in the cluster's own folder, TCP on loopback only; enough connections for every
    # replica's pool. fsync stays on: a commit answered to a client is on disk.
    as_owner "$(pg_bin pg_ctl)" -D "$PG_DATA" -l "$PG_LOG" -w -t 30 \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null ||
        die "postgres: did not start (see $PG_LOG)"
    echo "postgres: started on 127.0.0.1:$PG_PORT (cluster ${PG_DATA#"$ROOT"/}, log ${PG_LOG#"$ROOT"/})"
}

cmd_stop() {
    if is_running; then
        as_owner "$(pg_bin pg_ctl)" -D "$PG_DATA" -m fast -w stop >/dev/null
        echo "postgres: stopped"
    else
        echo "postgres: not running"
    fi
}

cmd_createdb() {
    local name
    for name in "$@"; do
        [[ "$name" =~ ^[a-z_][a-z0-9_]*$ ]] || die "postgres: not a plain database name: $name"
        if ! psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" |
            grep -q 1; then
            psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "CREATE DATABASE $name" >/dev/null
        fi
    done
}

cmd_drop_test_databases() {
    local name
    for name in $(psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%'"); do
        psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    done
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) if is_running; then echo "postgres: running on 127.0.0.1:$PG_PORT"; else echo "postgres: not running"; fi ;;
createdb) shift && cmd_createdb "$@" ;;
drop-test-databases) cmd_drop_test_databases ;;
url) printf 'postgres://%s@127.0.0.1:%s/%s\n' "$PG_USER" "$PG_PORT" "${2:-postgres}" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' && exit 2 ;;
esac
