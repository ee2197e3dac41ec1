#!/bin/bash
# A/B of one setting of the movie service, same release binary, same run, alternating, twice:
#   perf/ab-movie-get.sh SETTING BEFORE AFTER      e.g.  perf/ab-movie-get.sh SQLITE_READERS 0 2
#   perf/ab-movie-get.sh BIN before/movie after/movie    two builds of the service instead of one setting
# GET /movies/1 (wrk, 32 connections) alone, then beside PUT /movies/2 edits (8 connections).
# Needs `swift build -c release --product movie`, wrk, make setup's tools. Own broker on 29092 and service on
# 28082 (not make up's ports). Results: perf/README.md.
set -u
SETTING="$1" BEFORE="$2" AFTER="$3"
AB_DIR="${AB_DIR:-/tmp/cinema-ab-sqlite-readers}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CINEMA_RUN_DIR="$AB_DIR" KAFKA_PORT=29092
rm -rf ${AB_DIR}; mkdir -p ${AB_DIR}
bash scripts/broker.sh start >"$AB_DIR/broker-start.log" 2>&1 || { echo "broker failed:"; tail -5 "$AB_DIR/broker-start.log"; exit 1; }
BIN=${BIN:-.build/release/movie}
cat > ${AB_DIR}/put.lua <<'LUA'
wrk.method = "PUT"
wrk.body = '{"desc":"edited","status":"available"}'
wrk.headers["Content-Type"] = "application/json"
LUA
run() {
  local value=$1 label=$2 tag=$3
  rm -f ${AB_DIR}/movie.sqlite*
  local binary="$BIN" setting="$SETTING=$value"
  if [[ "$SETTING" == BIN ]]; then binary="$value" setting="AB_BINARY=$value"; fi
  LD_LIBRARY_PATH=.tools/lib env "$setting" PORT=28082 KAFKA_BROKERS=127.0.0.1:29092 DATABASE_PATH=${AB_DIR}/movie.sqlite LOG_LEVEL=warning "$binary" > ${AB_DIR}/movie-$tag.log 2>&1 &
  local pid=$!
  for i in $(seq 100); do curl -sf localhost:28082/ready >/dev/null && break; sleep 0.1; done
  curl -s -XPOST localhost:28082/movies -H 'Content-Type: application/json' -d '{"desc":"bench"}' >/dev/null
  curl -s -XPOST localhost:28082/movies -H 'Content-Type: application/json' -d '{"desc":"edited"}' >/dev/null
  wrk -t2 -c32 -d8s --latency http://127.0.0.1:28082/movies/1 > ${AB_DIR}/read-$tag.txt
  wrk -t1 -c8 -d10s -s ${AB_DIR}/put.lua http://127.0.0.1:28082/movies/2 > ${AB_DIR}/write-$tag.txt &
  local w=$!
  sleep 1
  wrk -t2 -c32 -d8s --latency http://127.0.0.1:28082/movies/1 > ${AB_DIR}/mixed-$tag.txt
  wait $w
  kill $pid; wait $pid 2>/dev/null
  printf '%-40s GET alone %8s req/s p99 %7s | GET beside writes %8s req/s p99 %7s | writes %6s req/s\n' "$label" \
    "$(awk '/Requests\/sec/{print $2}' ${AB_DIR}/read-$tag.txt)" "$(awk '$1=="99%"{print $2}' ${AB_DIR}/read-$tag.txt)" \
    "$(awk '/Requests\/sec/{print $2}' ${AB_DIR}/mixed-$tag.txt)" "$(awk '$1=="99%"{print $2}' ${AB_DIR}/mixed-$tag.txt)" \
    "$(awk '/Requests\/sec/{print $2}' ${AB_DIR}/write-$tag.txt)"
}
for round in 1 2; do
  run "$BEFORE" "$SETTING=$BEFORE" before
  run "$AFTER" "$SETTING=$AFTER" after
done
bash scripts/broker.sh stop >/dev/null 2>&1
