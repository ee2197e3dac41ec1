#!/usr/bin/env bash
# make fuzz-api: the OpenAPI document (Sources/Gateway/openapi.json) against the running system.
#
# Validates the document against OpenAPI 3.1 (openapi-spec-validator), starts a whole system of
# its own (Tansu broker, the five services, the gateway) on shifted ports with its own state
# folder, so it runs beside `make up` and other checkouts' tests, checks that the gateway serves
# the document byte for byte at /openapi.json, seeds a few movies, a review and a reservation so
# that ids exist, and runs schemathesis through the gateway with the checks below. Any 5xx, or
# any status, Content-Type, header or body the document does not allow, fails it.
#
# Environment: FUZZ_PORT_OFFSET (10000: gateway 18088, services 18081-18085), FUZZ_KAFKA_PORT
#   (19092), FUZZ_RUN_DIR (.run-fuzz), FUZZ_MAX_TIME (150 s of schemathesis), FUZZ_MAX_EXAMPLES
#   (50 per operation), FUZZ_SEED (fixed, so a run can be repeated), CINEMA_BIN_DIR
#   (.build/debug: `make test` builds those).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SCHEMATHESIS_VERSION=4.32.5
SPEC_VALIDATOR_VERSION=0.9.0
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
DOCUMENT="$ROOT/Sources/Gateway/openapi.json"
VENV="$ROOT/.tools/venv"

export CINEMA_PORT_OFFSET="${FUZZ_PORT_OFFSET:-10000}"
export KAFKA_PORT="${FUZZ_KAFKA_PORT:-19092}"
export CINEMA_RUN_DIR="${FUZZ_RUN_DIR:-$ROOT/.run-fuzz}"
export CINEMA_BIN_DIR="${CINEMA_BIN_DIR:-$ROOT/.build/debug}"
MAX_TIME="${FUZZ_MAX_TIME:-150}"
MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-50}"
SEED="${FUZZ_SEED:-20261203}"
GATEWAY="http://127.0.0.1:$((8088 + CINEMA_PORT_OFFSET))"
REPORT_DIR="$CINEMA_RUN_DIR/schemathesis"

log() { printf '== fuzz-api: %s\n' "$*"; }

# The tools, pinned, into the venv scripts/setup.sh made (it holds Tansu and librdkafka too).
[[ -x "$VENV/bin/python" ]] || bash scripts/setup.sh
if ! "$VENV/bin/python" - "$SCHEMATHESIS_VERSION" "$SPEC_VALIDATOR_VERSION" <<'PY' >/dev/null 2>&1; then
import sys, importlib.metadata as m
sys.exit(0 if (m.version("schemathesis"), m.version("openapi-spec-validator")) == (sys.argv[1], sys.argv[2]) else 1)
PY
    log "installing schemathesis==$SCHEMATHESIS_VERSION openapi-spec-validator==$SPEC_VALIDATOR_VERSION"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$SPEC_VALIDATOR_VERSION"
fi

log "validating $(realpath --relative-to="$ROOT" "$DOCUMENT") against OpenAPI 3.1"
"$VENV/bin/python" - "$DOCUMENT" <<'PY'
import json, sys
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator
with open(sys.argv[1]) as f:
    document = json.load(f)
assert document["openapi"].startswith("3.1."), document["openapi"]
validate(document, cls=OpenAPIV31SpecValidator)
print(f"   valid: {len(document['paths'])} paths")
PY

for bin in movie payment reservation message viewpage gateway; do
    [[ -x "$CINEMA_BIN_DIR/$bin" ]] || { echo "no $CINEMA_BIN_DIR/$bin: build first (swift build, or make test)" >&2; exit 1; }
done

CINEMA=(bash "$ROOT/scripts/cinema.sh")
stop_system() { "${CINEMA[@]}" down >/dev/null 2>&1 || "${CINEMA[@]}" down || true; }
trap stop_system EXIT
# A fresh system every run: an old run's data would make the seeded ids differ.
stop_system
rm -rf "$CINEMA_RUN_DIR"
log "starting the system from $CINEMA_BIN_DIR (gateway $GATEWAY, Kafka 127.0.0.1:$KAFKA_PORT, state in ${CINEMA_RUN_DIR#"$ROOT"/})"
mkdir -p "$CINEMA_RUN_DIR"
"${CINEMA[@]}" up --no-setup --no-build >"$CINEMA_RUN_DIR/up.log" 2>&1 || {
    cat "$CINEMA_RUN_DIR/up.log" >&2
    exit 1
}

log "the gateway serves the document"
served="$(mktemp)"
curl -fsS -o "$served" -D "$served.headers" "$GATEWAY/openapi.json"
cmp -s "$served" "$DOCUMENT" || { echo "GET /openapi.json differs from $DOCUMENT" >&2; exit 1; }
grep -qi '^content-type: application/json' "$served.headers" || { echo "GET /openapi.json is not application/json" >&2; exit 1; }
rm -f "$served" "$served.headers"

# post PATH JSON: the item must be created (201).
post() {
    local code
    code="$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$2" "$GATEWAY$1")"
    [[ "$code" == 201 ]] || { echo "seeding: POST $1 $2 answered $code" >&2; exit 1; }
}
log "seeding movies, a review and a reservation"
post /movies '{"desc":"Beautiful Movie~"}'
post /movies '{"desc":"Happy Story!","seats":3}'
post /movies '{"desc":"Matinee","seats":"5"}'
post /reviews '{"movieId":1,"content":"Great!"}'
post /reservations '{"movieId":"1","status":"reqReserve"}'

log "schemathesis $SCHEMATHESIS_VERSION through the gateway: $CHECKS (at most ${MAX_TIME}s, $MAX_EXAMPLES examples per operation, seed $SEED)"
status=0
# The dashboard's event stream never ends (each example would wait out the request timeout).
# From the state folder, where schemathesis keeps its cache (.schemathesis/). One worker: with two,
# Hypothesis' lambda-description cache raced once (a KeyError inside the generator, not an answer).
(cd "$CINEMA_RUN_DIR" && exec "$VENV/bin/schemathesis" run "$GATEWAY/openapi.json" \
    --checks "$CHECKS" \
    --exclude-path /dashboard/events \
    --max-time "$MAX_TIME" \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 15 \
    --suppress-health-check too_slow,filter_too_much \
    --report junit --report-dir "$REPORT_DIR") || status=$?

# What the fuzzing reached, as the services counted it: requests by method, route and status.
log "answers the services gave, by method, route and status"
for port in 8082 8081 8083 8084 8085; do
    curl -fsS --max-time 5 "http://127.0.0.1:$((port + CINEMA_PORT_OFFSET))/metrics" || true
done | "$VENV/bin/python" -c '
import re, sys, collections
counts = collections.Counter()
for line in sys.stdin:
    m = re.match(r"hb_requests(?:_total)?\{(.*)\} (\d+)", line)
    if not m:
        continue
    labels = dict(re.findall(r"(\w+)=\"([^\"]*)\"", m.group(1)))
    key = (labels.get("http_route", "?"), labels.get("http_request_method", "?"), labels.get("http_response_status_code", "?"))
    counts[key] += int(m.group(2))
for (route, method, status), n in sorted(counts.items()):
    print(f"   {method:7} {route:40} {status}  {n}")
'

# Whatever schemathesis found, every process must still be alive.
for name in movie payment reservation message viewpage gateway; do
    pid="$(cat "$CINEMA_RUN_DIR/pids/$name.pid" 2>/dev/null)" || pid=""
    if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
        echo "fuzz-api: $name is no longer running; last lines of its log:" >&2
        tail -n 30 "$CINEMA_RUN_DIR/logs/$name.log" >&2 || true
        status=1
    fi
done
if ((status)); then
    echo "fuzz-api: FAILED (report: ${REPORT_DIR#"$ROOT"/}, logs: ${CINEMA_RUN_DIR#"$ROOT"/}/logs)" >&2
    exit "$status"
fi
log "passed"
