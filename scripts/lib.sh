# Shared helpers for scripts/broker.sh and scripts/cinema.sh (sourced, not executed).
# shellcheck shell=bash disable=SC2034

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
# CINEMA_RUN_DIR: another state folder, for a second system beside `make up` (make fuzz-api).
RUN_DIR="${CINEMA_RUN_DIR:-$ROOT/.run}"
PID_DIR="$RUN_DIR/pids"
LOG_DIR="$RUN_DIR/logs"
DATA_DIR="$RUN_DIR/data"

# Kafka clients must load librdkafka >= 2.2 (the wheel's), never Debian's 2.0.2.
RDKAFKA_LIB_DIR="$TOOLS/lib"
KAFKA_LD_LIBRARY_PATH="$RDKAFKA_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
TANSU="${TANSU_BIN:-$TOOLS/bin/tansu}"
KCAT_REAL="${KCAT_REAL:-/usr/bin/kcat}"

KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_TOPIC="${KAFKA_TOPIC:-cinema}"
KAFKA_DLT_TOPIC="${KAFKA_DLT_TOPIC:-$KAFKA_TOPIC.DLT}"
KAFKA_PARTITIONS="${KAFKA_PARTITIONS:-3}"
KAFKA_BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"

if [[ -t 2 ]]; then C_RED=$'\e[31m' C_YELLOW=$'\e[33m' C_OFF=$'\e[0m'; else C_RED='' C_YELLOW='' C_OFF=''; fi

die() { printf '%sERROR:%s %s\n' "$C_RED" "$C_OFF" "$*" >&2; exit 1; }
warn() { printf '%sWARN:%s %s\n' "$C_YELLOW" "$C_OFF" "$*" >&2; }

# kcat with the Tansu-capable librdkafka.
kcat_() { LD_LIBRARY_PATH="$KAFKA_LD_LIBRARY_PATH" "$KCAT_REAL" "$@"; }

need_tools() {
    [[ -x "$TANSU" && -e "$RDKAFKA_LIB_DIR/librdkafka.so.1" && -x "$KCAT_REAL" ]] ||
        die "tools missing ($TANSU, $RDKAFKA_LIB_DIR/librdkafka.so.1, $KCAT_REAL): run scripts/setup.sh (make setup)"
}

# Seconds since the epoch as an integer (bash 5 builtin, no fork).
now() { printf '%(%s)T' -1; }

# pid_of NAME EXE: print the pid stored in $PID_DIR/NAME.pid when that process is alive AND runs
# an executable whose file name is EXE (guards against a recycled pid); return 1 otherwise.
pid_of() {
    local exe="$2" file="$PID_DIR/$1.pid" pid actual
    [[ -s "$file" ]] || return 1
    pid="$(<"$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    actual="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
    actual="${actual% (deleted)}" # the binary was rebuilt while the process runs
    [[ "${actual##*/}" == "$exe" ]] || return 1
    printf '%s\n' "$pid"
}

# tcp_open HOST PORT: true when something accepts TCP connections there.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_exit DEADLINE_SECONDS PID...: wait until all pids are gone; print the survivors and
# return 1 when the deadline passes.
wait_exit() {
    local timeout="$1" deadline pid alive
    shift
    deadline=$(($(now) + timeout))
    while :; do
        alive=()
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
        ((${#alive[@]})) || return 0
        if (($(now) >= deadline)); then
            printf '%s\n' "${alive[@]}"
            return 1
        fi
        sleep 0.2
    done
}

# stop_pids LABEL TIMEOUT PID...: SIGTERM, wait up to TIMEOUT seconds, then SIGKILL leftovers.
stop_pids() {
    local label="$1" timeout="$2" left pid
    shift 2
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    if left="$(wait_exit "$timeout" "$@")"; then
        return 0
    fi
    for pid in $left; do warn "$label: pid $pid still alive after ${timeout}s: SIGKILL"; done
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
    # shellcheck disable=SC2086
    wait_exit 5 $left >/dev/null || warn "$label: could not kill: $left"
}

# broker_answers [METADATA_TIMEOUT_SECONDS]: a Kafka metadata request succeeds. No topic is named:
# a metadata request for a missing topic makes Tansu auto-create it (with 4 partitions).
broker_answers() {
    timeout 5 env LD_LIBRARY_PATH="$KAFKA_LD_LIBRARY_PATH" "$KCAT_REAL" -L -b "$KAFKA_BOOTSTRAP" -m "${1:-2}" >/dev/null 2>&1
}
