#!/usr/bin/env bash
# Local Kafka-protocol broker (Tansu, in-memory) for development and tests.
#   scripts/broker.sh start         start Tansu in the background (idempotent), wait until it
#                                   answers, then ensure the topic
#   scripts/broker.sh stop          SIGTERM, wait, SIGKILL after BROKER_STOP_TIMEOUT seconds
#   scripts/broker.sh status        running? answering? topics (exit 0 when it answers, 3 if not)
#   scripts/broker.sh ensure-topic  create $KAFKA_TOPIC and $KAFKA_DLT_TOPIC with $KAFKA_PARTITIONS partitions if missing
# Environment: KAFKA_HOST (127.0.0.1), KAFKA_PORT (9092), KAFKA_TOPIC (cinema),
#   KAFKA_PARTITIONS (3), BROKER_START_TIMEOUT (30), BROKER_STOP_TIMEOUT (10).
# Pid file .run/pids/broker.pid, log .run/logs/broker.log.
# Storage is in memory: a broker restart loses every topic, so `start` always ensures the topic.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PID_FILE="$PID_DIR/broker.pid"
LOG_FILE="$LOG_DIR/broker.log"
BROKER_START_TIMEOUT="${BROKER_START_TIMEOUT:-30}"
BROKER_STOP_TIMEOUT="${BROKER_STOP_TIMEOUT:-10}"
BROKER_URL="tcp://$KAFKA_BOOTSTRAP"

broker_pid() { pid_of broker tansu; }

# Wait until the broker answers a metadata request, or fail at the deadline or when PID dies.
wait_answers() {
    local pid="${1:-}" deadline=$(($(now) + BROKER_START_TIMEOUT))
    until broker_answers 2; do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            echo "broker: exited during start-up; last lines of $LOG_FILE:" >&2
            tail -n 20 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            return 1
        fi
        if (($(now) >= deadline)); then
            echo "broker: no answer on $KAFKA_BOOTSTRAP after ${BROKER_START_TIMEOUT}s (log: $LOG_FILE)" >&2
            return 1
        fi
        sleep 0.2
    done
}

cmd_start() {
    need_tools
    mkdir -p "$PID_DIR" "$LOG_DIR"
    local pid
    if pid="$(broker_pid)"; then
        echo "broker: already running (pid $pid) on $KAFKA_BOOTSTRAP"
        wait_answers "$pid"
    elif tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
        if broker_answers 2; then
            warn "broker: a broker not started by this script already answers on $KAFKA_BOOTSTRAP: using it"
        else
            die "broker: port $KAFKA_PORT is taken by a process that is not a Kafka broker"
        fi
    else
        rm -f "$PID_FILE"
        printf '\n=== %(%F %T)T starting tansu on %s ===\n' -1 "$KAFKA_BOOTSTRAP" >>"$LOG_FILE"
        # setsid: own session, so a Ctrl-C in the calling terminal does not reach the broker.
        # Tansu also reads settings from the environment (STORAGE_ENGINE, SCHEMA_REGISTRY,
        # OTEL_EXPORTER_OTLP_ENDPOINT, ...): pass everything as flags and drop the optional ones.
        env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT \
            setsid "$TANSU" broker \
            --listener-url "$BROKER_URL" \
            --advertised-listener-url "$BROKER_URL" \
            --storage-engine memory://tansu/ \
            </dev/null >>"$LOG_FILE" 2>&1 &
        pid=$!
        echo "$pid" >"$PID_FILE"
        wait_answers "$pid"
        echo "broker: started tansu (pid $pid) on $KAFKA_BOOTSTRAP, log $LOG_FILE"
    fi
    cmd_ensure_topic
}

cmd_stop() {
    local pid
    if pid="$(broker_pid)"; then
        echo "broker: stopping (pid $pid)"
        stop_pids broker "$BROKER_STOP_TIMEOUT" "$pid"
        echo "broker: stopped"
    else
        echo "broker: not running"
    fi
    rm -f "$PID_FILE"
}

# Prints one line per topic: "<name> <partitions>".
list_topics() {
    timeout 15 "$TANSU" topic list --broker "$BROKER_URL" 2>/dev/null |
        jq -r '.[] | "\(.name) \(.partitions | length)"'
}

# ensure_one_topic NAME: create topic NAME with $KAFKA_PARTITIONS partitions unless it exists.
ensure_one_topic() {
    local topic="$1" topics n out
    # Never probe with `kcat -L -t <topic>` or a producer: Tansu auto-creates a topic named in a
    # metadata request (with 4 partitions). `tansu topic list` does not.
    topics="$(list_topics)" || die "broker: tansu topic list failed"
    n="$(awk -v t="$topic" '$1 == t { print $2 }' <<<"$topics")"
    if [[ -z "$n" ]]; then
        if ! out="$(timeout 15 "$TANSU" topic create "$topic" --partitions "$KAFKA_PARTITIONS" --broker "$BROKER_URL" 2>&1)"; then
            # Lost a race with another creator? Then the topic exists now.
            list_topics | awk -v t="$topic" '$1 == t { found = 1 } END { exit !found }' ||
                die "broker: could not create topic $topic: $out"
        fi
        n="$(list_topics | awk -v t="$topic" '$1 == t { print $2 }')"
        echo "broker: created topic $topic ($n partitions)"
    else
        echo "broker: topic $topic exists ($n partitions)"
    fi
    [[ "$n" == "$KAFKA_PARTITIONS" ]] ||
        warn "broker: topic $topic has $n partitions, expected $KAFKA_PARTITIONS (restart the broker to reset it)"
}

# The event topic and its dead-letter topic: the services never create topics themselves.
cmd_ensure_topic() {
    need_tools
    broker_answers 2 || die "broker: nothing answers on $KAFKA_BOOTSTRAP (start it: scripts/broker.sh start)"
    ensure_one_topic "$KAFKA_TOPIC"
    ensure_one_topic "$KAFKA_DLT_TOPIC"
}

cmd_status() {
    local pid state
    if pid="$(broker_pid)"; then state="running (pid $pid)"; else state="not running (no live pid in $PID_FILE)"; fi
    if broker_answers 2; then
        echo "broker: $state, answers on $KAFKA_BOOTSTRAP"
        echo "topics (name partitions):"
        list_topics | sed 's/^/  /'
        return 0
    fi
    echo "broker: $state, no answer on $KAFKA_BOOTSTRAP"
    return 3
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
restart) cmd_stop && cmd_start ;;
status) cmd_status ;;
ensure-topic) cmd_ensure_topic ;;
*)
    echo "usage: $0 start|stop|restart|status|ensure-topic" >&2
    exit 2
    ;;
esac
