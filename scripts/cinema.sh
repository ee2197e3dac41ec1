#!/usr/bin/env bash
# Runs the whole Cinema system locally: Tansu broker + 5 services + gateway.
#
#   scripts/cinema.sh up [--no-setup] [--no-build]
#                                setup, release build, broker + topic, start everything that is
#                                not running yet, wait until every GET /ready answers 200
#   scripts/cinema.sh down       SIGTERM all services, then the broker; SIGKILL leftovers
#   scripts/cinema.sh start NAME start one service (or `broker`) and wait until it is ready
#   scripts/cinema.sh stop NAME  SIGTERM one service (or `broker`) and wait until it exits
#   scripts/cinema.sh kill NAME  SIGKILL one service (or `broker`): a crash drill
#   scripts/cinema.sh restart NAME
#   scripts/cinema.sh status     table: name, pid, port, /health, /ready
#   scripts/cinema.sh logs [NAME...]   tail -F the logs, each line prefixed with its process
#   scripts/cinema.sh dlt list | replay [GROUP...]
#   scripts/cinema.sh rebuild-view           the MovieView rebuilt from the topic, then swapped in
#                                the dead letters on $KAFKA_DLT_TOPIC; replay re-publishes them
#                                to $KAFKA_TOPIC for the group that failed
#   scripts/cinema.sh events [KCAT_ARGS...]
#                                follow topic $KAFKA_TOPIC from the beginning, one value a line
#
# Scaled mode: `CINEMA_DB=postgres CINEMA_REPLICAS=2 scripts/cinema.sh up` keeps every service's
# state in a private PostgreSQL server (scripts/postgres.sh, one database per service) and starts
# N replicas of each service: the first on its usual port, replica k on port + 100 × (k − 1),
# named <service>-k (reservation-2 on 8183); the gateway balances across them. The mode is
# remembered in .run/mode for the later commands, until `down`.
#
# Files: .run/pids/<name>.pid, .run/logs/<name>.log, .run/data/<name>.sqlite
# Environment: CINEMA_HOST (127.0.0.1), LOG_LEVEL (info), CINEMA_BIN_DIR (.build/release),
#   CINEMA_READY_TIMEOUT (90 s), CINEMA_STOP_TIMEOUT (15 s), CINEMA_SKIP_SETUP=1,
#   CINEMA_SKIP_BUILD=1, and the broker's KAFKA_HOST, KAFKA_PORT, KAFKA_TOPIC (see broker.sh).
#   CINEMA_PORT_OFFSET (0) is added to every port below and CINEMA_RUN_DIR (.run) moves the state,
#   so a second system can run beside `make up` (scripts/fuzz-api.sh does).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

# The one list of processes, "name:port", in start order (the gateway last).
SERVICES=(
    movie:8082
    payment:8081
    reservation:8083
    message:8084
    viewpage:8085
    gateway:8088
)

CINEMA_HOST="${CINEMA_HOST:-127.0.0.1}" # not $HOST: some shells (zsh) set HOST to the hostname
BIN_DIR="${CINEMA_BIN_DIR:-$ROOT/.build/release}"
READY_TIMEOUT="${CINEMA_READY_TIMEOUT:-90}"
STOP_TIMEOUT="${CINEMA_STOP_TIMEOUT:-15}"
BROKER_SH=(bash "$ROOT/scripts/broker.sh")

# The mode: from .run/mode once `up` has written it, else from the environment (for `up`).
MODE_FILE="$RUN_DIR/mode"
if [[ "${1:-}" != up && -f "$MODE_FILE" ]]; then
    # shellcheck disable=SC1090
    source "$MODE_FILE"
fi
CINEMA_DB="${CINEMA_DB:-sqlite}"
CINEMA_REPLICAS="${CINEMA_REPLICAS:-1}"
[[ "$CINEMA_DB" == sqlite || "$CINEMA_DB" == postgres ]] || die "CINEMA_DB must be sqlite or postgres, got '$CINEMA_DB'"
[[ "$CINEMA_REPLICAS" =~ ^[1-9]$ ]] || die "CINEMA_REPLICAS must be 1 to 9, got '$CINEMA_REPLICAS'"
if ((CINEMA_REPLICAS > 1)) && [[ "$CINEMA_DB" != postgres ]]; then
    die "replicas share their state: CINEMA_REPLICAS=$CINEMA_REPLICAS needs CINEMA_DB=postgres"
fi

# base_of NAME: the service an instance belongs to (reservation-2 -> reservation).
base_of() { printf '%s\n' "${1%-[0-9]}"; }
PORT_OFFSET="${CINEMA_PORT_OFFSET:-0}"
[[ "$PORT_OFFSET" =~ ^[0-9]{1,5}$ ]] || die "CINEMA_PORT_OFFSET must be a whole number, got '$PORT_OFFSET'"
base_port() {
    local s
    for s in "${SERVICES[@]}"; do [[ "${s%%:*}" == "$1" ]] && { printf '%s\n' $((${s##*:} + PORT_OFFSET)); return 0; }; done
    return 1
}
# instances_of SERVICE: its process names, the first one plain.
instances_of() {
    local k
    printf '%s\n' "$1"
    [[ "$1" == gateway ]] && return 0
    for ((k = 2; k <= CINEMA_REPLICAS; k++)); do printf '%s-%s\n' "$1" "$k"; done
}
names() { local s; for s in "${SERVICES[@]}"; do instances_of "${s%%:*}"; done; }
port_of() {
    local base port k=1
    base="$(base_of "$1")"
    port="$(base_port "$base")" || return 1
    if [[ "$1" != "$base" ]]; then
        k="${1##*-}"
        ((k >= 2 && k <= CINEMA_REPLICAS)) || return 1
    fi
    printf '%s\n' $((port + 100 * (k - 1)))
}
# urls_of SERVICE: every instance's URL, comma-separated (the gateway balances over them).
urls_of() {
    local name urls=()
    for name in $(instances_of "$1"); do urls+=("$(url_of "$name")"); done
    local IFS=,
    printf '%s\n' "${urls[*]}"
}
url_of() { printf 'http://%s:%s\n' "$CINEMA_HOST" "$(port_of "$1")"; }
is_service() { port_of "$1" >/dev/null 2>&1; }
need_service() {
    is_service "$1" || die "unknown service '$1' (known: $(names | tr '\n' ' ')broker)"
}
service_pid() { pid_of "$1" "$(base_of "$1")"; }

# http_code URL: the HTTP status, or 000 when nothing answers.
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true; }

# The environment of one service.
service_env() {
    local name="$1" other
    SERVICE_ENV=(
        "HOST=$CINEMA_HOST"
        "PORT=$(port_of "$name")"
        "KAFKA_BROKERS=$KAFKA_BOOTSTRAP"
        "KAFKA_TOPIC=$KAFKA_TOPIC"
        "LOG_LEVEL=${LOG_LEVEL:-info}"
        "LD_LIBRARY_PATH=$KAFKA_LD_LIBRARY_PATH"
    )
    # Replicas of a service share its database; SQLite files are one per process.
    if [[ "$name" != gateway ]]; then
        if [[ "$CINEMA_DB" == postgres ]]; then
            SERVICE_ENV+=("DATABASE_URL=$(bash "$ROOT/scripts/postgres.sh" url "$(base_of "$name")")")
        else
            SERVICE_ENV+=("DATABASE_PATH=$DATA_DIR/$name.sqlite")
        fi
    fi
    case "$(base_of "$name")" in
    # The first replica of each peer: reservation's calls go to one payment and one movie
    # process (a Kubernetes Service balances them in the cluster).
    reservation) SERVICE_ENV+=("PAYMENT_URL=$(url_of payment)" "MOVIE_URL=$(url_of movie)") ;;
    gateway)
        local s
        for s in "${SERVICES[@]}"; do
            other="${s%%:*}"
            [[ "$other" == gateway ]] || SERVICE_ENV+=("${other^^}_URL=$(urls_of "$other")")
        done
        ;;
    esac
}

# start_service NAME: start in the background unless already running. Does not wait.
start_service() {
    local name="$1" port pid bin log
    port="$(port_of "$name")"
    if pid="$(service_pid "$name")"; then
        echo "$name: already running (pid $pid)"
        return 0
    fi
    bin="$BIN_DIR/$(base_of "$name")"
    [[ -x "$bin" ]] || { echo "$name: no executable $bin (run: make build)" >&2; return 1; }
    if tcp_open "$CINEMA_HOST" "$port"; then
        echo "$name: port $port is already taken by a process not started by this script" >&2
        return 1
    fi
    mkdir -p "$PID_DIR" "$LOG_DIR" "$DATA_DIR"
    log="$LOG_DIR/$name.log"
    service_env "$name"
    printf '\n=== %(%F %T)T starting %s on %s:%s ===\n' -1 "$name" "$CINEMA_HOST" "$port" >>"$log"
    # setsid: own session, so a Ctrl-C in this terminal (e.g. during the wait) does not reach it.
    # env and setsid exec in place, so $! is the service's own pid.
    env "${SERVICE_ENV[@]}" setsid "$bin" </dev/null >>"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_DIR/$name.pid"
    echo "$name: started (pid $pid), log ${log#"$ROOT"/}"
}

# wait_ready NAME...: poll GET /ready until 200 for every name, with one deadline.
wait_ready() {
    local deadline start failed=() pending=("$@") next name pid code
    start="$(now)"
    deadline=$((start + READY_TIMEOUT))
    while ((${#pending[@]})); do
        next=()
        for name in "${pending[@]}"; do
            pid="$(cat "$PID_DIR/$name.pid" 2>/dev/null)" || pid=""
            if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
                echo "$name: EXITED during start-up; last lines of .run/logs/$name.log:" >&2
                tail -n 20 "$LOG_DIR/$name.log" 2>/dev/null | sed 's/^/    /' >&2 || true
                rm -f "$PID_DIR/$name.pid"
                failed+=("$name")
                continue
            fi
            code="$(http_code "$(url_of "$name")/ready")"
            if [[ "$code" == 200 ]]; then
                echo "$name: ready ($(($(now) - start))s)"
            else
                next+=("$name")
            fi
        done
        pending=("${next[@]}")
        ((${#pending[@]})) || break
        if (($(now) >= deadline)); then
            for name in "${pending[@]}"; do
                echo "$name: NOT READY after ${READY_TIMEOUT}s (GET /ready -> $(http_code "$(url_of "$name")/ready")); last lines of .run/logs/$name.log:" >&2
                tail -n 20 "$LOG_DIR/$name.log" 2>/dev/null | sed 's/^/    /' >&2 || true
            done
            failed+=("${pending[@]}")
            break
        fi
        sleep 0.5
    done
    ((${#failed[@]} == 0)) || { echo "not ready: ${failed[*]}" >&2; return 1; }
}

# stop_services NAME...: SIGTERM them all at once, wait, SIGKILL leftovers.
stop_services() {
    local name pid pids=()
    for name in "$@"; do
        if pid="$(service_pid "$name")"; then
            echo "$name: stopping (pid $pid)"
            pids+=("$pid")
        fi
    done
    stop_pids services "$STOP_TIMEOUT" "${pids[@]}"
    for name in "$@"; do
        service_pid "$name" >/dev/null || rm -f "$PID_DIR/$name.pid"
    done
}

build() {
    echo "build: swift build -c release"
    swift build -c release
}

cmd_up() {
    local arg skip_setup="${CINEMA_SKIP_SETUP:-}" skip_build="${CINEMA_SKIP_BUILD:-}" rc=0 name started=()
    for arg in "$@"; do
        case "$arg" in
        --no-setup) skip_setup=1 ;;
        --no-build) skip_build=1 ;;
        *) die "up: unknown option $arg" ;;
        esac
    done
    local mode="CINEMA_DB=$CINEMA_DB CINEMA_REPLICAS=$CINEMA_REPLICAS" running
    if [[ -f "$MODE_FILE" && "$(cat "$MODE_FILE")" != "$mode" ]]; then
        running="$(
            # shellcheck disable=SC1090
            source "$MODE_FILE"
            for name in $(names); do service_pid "$name" >/dev/null && printf '%s ' "$name"; done
        )" || true
        [[ -z "$running" ]] || die "up: running in another mode ($(cat "$MODE_FILE")): $running- make down first"
    fi
    [[ -n "$skip_setup" ]] || bash "$ROOT/scripts/setup.sh"
    [[ -n "$skip_build" ]] || build
    mkdir -p "$RUN_DIR"
    printf '%s\n' "$mode" >"$MODE_FILE"
    if [[ "$CINEMA_DB" == postgres ]]; then
        bash "$ROOT/scripts/postgres.sh" start
        # shellcheck disable=SC2046
        bash "$ROOT/scripts/postgres.sh" createdb $(for s in "${SERVICES[@]}"; do [[ "${s%%:*}" == gateway ]] || echo "${s%%:*}"; done)
    fi
    "${BROKER_SH[@]}" start # also creates the topic: a fresh in-memory broker has none
    for name in $(names); do
        if start_service "$name"; then started+=("$name"); else rc=1; fi
    done
    ((${#started[@]} == 0)) || wait_ready "${started[@]}" || rc=1
    echo
    print_urls
    if ((rc)); then
        echo "up: some processes failed (see above); 'scripts/cinema.sh status', 'make down' to stop" >&2
        return 1
    fi
}

print_urls() {
    local name
    echo "Gateway:  $(url_of gateway)"
    echo "Services:"
    for name in $(names); do
        [[ "$name" == gateway ]] || printf '  %-12s %s\n' "$name" "$(url_of "$name")"
    done
    echo "Broker:   $KAFKA_BOOTSTRAP, topic $KAFKA_TOPIC"
    if [[ "$CINEMA_DB" == postgres ]]; then
        echo "Database: PostgreSQL $(bash "$ROOT/scripts/postgres.sh" url '<service>'), $CINEMA_REPLICAS replica(s) per service"
    fi
    echo "Watch events:  make events   (scripts/cinema.sh events | jq .)"
    echo "Logs:          make logs     (files in .run/logs/)"
    echo "State:         make status;  stop everything: make down"
}

cmd_down() {
    # shellcheck disable=SC2046
    stop_services $(names | tac)
    "${BROKER_SH[@]}" stop
    if [[ "$CINEMA_DB" == postgres ]]; then bash "$ROOT/scripts/postgres.sh" stop; fi
    rm -f "$MODE_FILE"
}

cmd_start() {
    local name="${1:?usage: $0 start NAME}"
    if [[ "$name" == broker ]]; then "${BROKER_SH[@]}" start; return; fi
    need_service "$name"
    broker_answers 2 || warn "no broker answers on $KAFKA_BOOTSTRAP (make broker)"
    start_service "$name"
    wait_ready "$name"
}

cmd_stop() {
    local name="${1:?usage: $0 stop NAME}"
    if [[ "$name" == broker ]]; then "${BROKER_SH[@]}" stop; return; fi
    need_service "$name"
    if service_pid "$name" >/dev/null; then
        stop_services "$name"
        echo "$name: stopped"
    else
        rm -f "$PID_DIR/$name.pid"
        echo "$name: not running"
    fi
}

# kill NAME: SIGKILL, no grace: a crash drill.
cmd_kill() {
    local name="${1:?usage: $0 kill NAME}" pid
    if [[ "$name" == broker ]]; then
        pid="$(pid_of broker tansu)" || { echo "broker: not running"; return 0; }
    else
        need_service "$name"
        pid="$(service_pid "$name")" || { echo "$name: not running"; return 0; }
    fi
    kill -KILL "$pid"
    wait_exit 5 "$pid" >/dev/null || warn "$name: pid $pid survives SIGKILL"
    rm -f "$PID_DIR/$name.pid"
    echo "$name: killed (pid $pid)"
}

label_code() {
    case "$1" in
    000) echo "down" ;;
    *) echo "$1" ;;
    esac
}

cmd_status() {
    local name pid port health ready topic fmt='%-12s %-8s %-6s %-7s %-7s %s\n'
    # shellcheck disable=SC2059
    printf "$fmt" NAME PID PORT HEALTH READY URL
    pid="$(pid_of broker tansu || echo -)"
    if broker_answers 2; then
        health=up
        topic="$(timeout 15 "$TANSU" topic list --broker "tcp://$KAFKA_BOOTSTRAP" 2>/dev/null |
            jq -r --arg t "$KAFKA_TOPIC" '.[] | select(.name == $t) | .partitions | length' || true)"
        if [[ -n "$topic" ]]; then ready="yes"; topic="topic $KAFKA_TOPIC: $topic partitions"; else ready="no"; topic="topic $KAFKA_TOPIC missing (make broker)"; fi
    else
        health=down ready=- topic=""
    fi
    # shellcheck disable=SC2059
    printf "$fmt" broker "$pid" "$KAFKA_PORT" "$health" "$ready" "kafka://$KAFKA_BOOTSTRAP $topic"
    for name in $(names); do
        port="$(port_of "$name")"
        if ! pid="$(service_pid "$name")"; then
            if [[ -s "$PID_DIR/$name.pid" ]]; then pid="dead"; else pid="-"; fi
        fi
        health="$(label_code "$(http_code "$(url_of "$name")/health")")"
        ready="$(label_code "$(http_code "$(url_of "$name")/ready")")"
        # shellcheck disable=SC2059
        printf "$fmt" "$name" "$pid" "$port" "$health" "$ready" "$(url_of "$name")"
    done
}

cmd_logs() {
    local files=() name
    # shellcheck disable=SC2046
    (($#)) || set -- broker $(names)
    for name in "$@"; do
        [[ "$name" == broker ]] || need_service "$name"
        files+=("$LOG_DIR/$name.log")
    done
    mkdir -p "$LOG_DIR"
    # One tail for all files; its "==> file <==" headers tell which file the next lines are
    # from. A bash loop rather than awk: Debian's mawk buffers piped input.
    local line prefix="" held=0
    tail -v -n "${LOG_LINES:-20}" -F "${files[@]}" 2>/dev/null | while IFS= read -r line; do
        if [[ "$line" =~ ^'==> '.*/([^/]+)\.log' <=='$ ]]; then
            printf -v prefix '%-11s| ' "${BASH_REMATCH[1]}"
            held=0
        elif [[ -z "$line" ]]; then
            ((held)) && printf '%s\n' "$prefix" # tail puts a blank line before each header
            held=1
        else
            ((held)) && printf '%s\n' "$prefix"
            held=0
            printf '%s%s\n' "$prefix" "$line"
        fi
    done
}

cmd_events() {
    need_tools
    broker_answers 2 || die "no broker answers on $KAFKA_BOOTSTRAP (make broker or make up)"
    # Consuming a missing topic fails; create it the proper way (3 partitions). Messages of the
    # broker script go to stderr so that stdout carries only event values.
    "${BROKER_SH[@]}" ensure-topic >&2
    exec env LD_LIBRARY_PATH="$KAFKA_LD_LIBRARY_PATH" "$KCAT_REAL" -C -b "$KAFKA_BOOTSTRAP" -t "$KAFKA_TOPIC" \
        -o beginning -u -q -f '%s\n' "$@"
}

# cmd_dlt list | replay [GROUP...]: the dead letters (scripts/dlt.py).
cmd_dlt() {
    need_tools
    broker_answers 2 || die "no broker answers on $KAFKA_BOOTSTRAP (make broker or make up)"
    "${BROKER_SH[@]}" ensure-topic >&2
    KCAT="$TOOLS/bin/kcat" KAFKA_BOOTSTRAP="$KAFKA_BOOTSTRAP" KAFKA_TOPIC="$KAFKA_TOPIC" KAFKA_DLT_TOPIC="$KAFKA_DLT_TOPIC" \
        exec python3 "$ROOT/scripts/dlt.py" "$@"
}

# view_rows URL: the view's rows without their links (which name the host asked), one JSON line.
view_rows() {
    curl -s --max-time 3 "$1/movieviews?size=2000" | python3 -c '
import json, sys
try:
    rows = json.load(sys.stdin).get("_embedded", {}).get("movieviews", [])
except ValueError:
    rows = None
print(json.dumps(None if rows is None else [{k: v for k, v in r.items() if k != "_links"} for r in rows], sort_keys=True))'
}

# inbox_ids DB: the ids of the events a service's database has applied, sorted, one per line.
inbox_ids() { sqlite3 -readonly "$1" 'SELECT messageId FROM inbox ORDER BY messageId' 2>/dev/null || true; }

# rebuild-view: a second viewpage process reads the topic from its beginning under a consumer
# group of its own into a database of its own, while the live one serves. Once it has caught up,
# the live viewpage stops; when the rebuild has applied every event the live one had (its inbox
# holds their ids), the live viewpage takes the rebuilt database and starts again. Its own group
# goes on from where it was and skips what the rebuild applied already. Views that look equal
# are not enough: both are empty before either consumer has joined its group.
cmd_rebuild_view() {
    local rebuilt="$DATA_DIR/viewpage-rebuild.sqlite" live_db="$DATA_DIR/viewpage.sqlite" group port="${REBUILD_PORT:-8095}"
    local pid log start stopped missing live_count suffix before after
    service_pid viewpage >/dev/null || die "viewpage is not running (make up)"
    [[ -x "$BIN_DIR/viewpage" ]] || die "no executable $BIN_DIR/viewpage (make build, or CINEMA_BIN_DIR)"
    tcp_open "$CINEMA_HOST" "$port" && die "port $port is taken (REBUILD_PORT=... to choose another)"
    rm -f "$rebuilt" "$rebuilt-wal" "$rebuilt-shm"
    group="viewpage-rebuild-$(now)"
    log="$LOG_DIR/viewpage-rebuild.log"
    service_env viewpage
    # Later assignments win in env: the rebuild's port, database and group.
    env "${SERVICE_ENV[@]}" "PORT=$port" "DATABASE_PATH=$rebuilt" "KAFKA_GROUP_ID=$group" setsid "$BIN_DIR/viewpage" \
        </dev/null >>"$log" 2>&1 &
    pid=$!
    echo "rebuild-view: viewpage (pid $pid, group $group) reads the topic from its beginning into ${rebuilt#"$ROOT"/}"
    start="$(now)"
    rebuild_alive() { kill -0 "$pid" 2>/dev/null || die "the rebuilding viewpage exited; see ${log#"$ROOT"/}"; }
    rebuild_late() {
        if (($(now) - start >= ${REBUILD_TIMEOUT:-120})); then
            stop_pids rebuild "$STOP_TIMEOUT" "$pid"
            [[ -n "${stopped:-}" ]] && start_service viewpage && wait_ready viewpage
            die "the rebuild did not catch up within ${REBUILD_TIMEOUT:-120}s (the live view is unchanged)"
        fi
    }
    # Caught up, nearly: as many events applied as the live one.
    until (($(inbox_ids "$rebuilt" | wc -l) >= $(inbox_ids "$live_db" | wc -l))); do
        rebuild_alive
        rebuild_late
        sleep 0.5
    done
    before="$(view_rows "$(url_of viewpage)")"
    stop_services viewpage
    stopped="$(now)"
    # Now the live set is final: wait until the rebuild has every one of them.
    while :; do
        missing="$(comm -23 <(inbox_ids "$live_db") <(inbox_ids "$rebuilt") | wc -l)"
        ((missing == 0)) && break
        rebuild_alive
        rebuild_late
        sleep 0.2
    done
    live_count="$(inbox_ids "$live_db" | wc -l)"
    stop_pids rebuild "$STOP_TIMEOUT" "$pid"
    for suffix in "" -wal -shm; do
        rm -f "$live_db$suffix"
        [[ ! -e "$rebuilt$suffix" ]] || mv "$rebuilt$suffix" "$live_db$suffix"
    done
    start_service viewpage
    wait_ready viewpage
    after="$(view_rows "$(url_of viewpage)")"
    echo "rebuild-view: $(inbox_ids "$live_db" | wc -l) events applied from the topic's beginning (the live view had $live_count);" \
        "$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1]) or []))' "$after") rows;" \
        "$(($(now) - start))s in all, viewpage down $(($(now) - stopped))s"
    if [[ "$after" == "$before" ]]; then
        echo "rebuild-view: the rebuilt view equals the live view it replaced"
    else
        warn "the rebuilt view differs from the live view it replaced (events that came meanwhile show in it): compare with make status"
    fi
}

usage() {
    sed -n '2,/^set -euo/p' "$ROOT/scripts/cinema.sh" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 2
}

cmd="${1:-}"
shift || true
case "$cmd" in
up) cmd_up "$@" ;;
down) cmd_down ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
kill) cmd_kill "$@" ;;
restart) cmd_stop "$@" && cmd_start "$@" ;;
status) cmd_status ;;
logs) cmd_logs "$@" ;;
events) cmd_events "$@" ;;
dlt) cmd_dlt "$@" ;;
rebuild-view) cmd_rebuild_view ;;
build) build ;;
urls) print_urls ;;
*) usage ;;
esac
