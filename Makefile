# Local orchestration of Cinema: 5 services + gateway over Kafka (Tansu) and HTTP.
# The real work lives in scripts/ (setup.sh, broker.sh, cinema.sh); see `make help`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
SERVICES := movie payment reservation message viewpage gateway
KAFKA_PORT ?= 9092
export KAFKA_PORT

# What the tests get: the broker binary (tests may start their own Tansu) and the librdkafka
# that can talk to Tansu (Debian's 2.0.2 cannot). Only the test recipe exports them.
TEST_ENV := TANSU_BIN=$(ROOT)/.tools/bin/tansu \
	LD_LIBRARY_PATH=$(ROOT)/.tools/lib$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH} \
	KAFKA_BROKERS=127.0.0.1:$(KAFKA_PORT)
# Extra arguments for swift test, e.g. make test SWIFT_TEST_FLAGS='--filter KafkaTests'
SWIFT_TEST_FLAGS ?=

START_TARGETS := $(addprefix start-,$(SERVICES))
STOP_TARGETS := $(addprefix stop-,$(SERVICES))

.PHONY: help setup build bench bench-smoke broker broker-stop up down status logs events trace dlt dlt-replay rebuild-view postgres postgres-stop test drills lint format clean distclean \
	image-build-check k8s-check fuzz-api \
	$(START_TARGETS) $(STOP_TARGETS)

help:
	@echo "make setup          install Debian packages, .tools/venv (Tansu, librdkafka), links"
	@echo "make build          swift build -c release"
	@echo "make up             setup + build + broker + all services; waits until all are ready"
	@echo "make down           stop all services, then the broker"
	@echo "make status         table of processes: pid, port, /health, /ready"
	@echo "make logs           follow all logs (.run/logs), prefixed"
	@echo "make events         follow topic cinema from the beginning, one JSON value a line"
	@echo "make trace ID=...  one trace (a reservation's saga): log lines of every process + its events"
	@echo "make dlt            list the dead letters (topic cinema.DLT), one JSON line each with headers"
	@echo "make dlt-replay     re-publish them to cinema for the group that failed (GROUPS='payment ...' to choose)"
	@echo "make rebuild-view   rebuild the MovieView from the topic's beginning beside the live one, then swap it in"
	@echo "make start-NAME     start one service   (NAME: $(SERVICES))"
	@echo "make stop-NAME      stop one service (SIGTERM, wait)"
	@echo "make broker         start the broker and create the topic;  make broker-stop"
	@echo "make test           setup + format lint + swift build --build-tests + swift test"
	@echo "make drills         the reliability drills against the real system; prints the figures and writes them"
	@echo "                    into RELIABILITY.md (DRILLS=fast for the subset CI runs, default full)"
	@echo "make bench          release build, its own broker/services/nginx on free ports; prints the figures beside"
	@echo "                    their same-run baselines and writes BENCHMARKS.md (not part of make test)"
	@echo "make bench-smoke    the same with tiny sizes (CI); writes .run/bench-smoke.md"
	@echo "make fuzz-api       the OpenAPI document checked (3.1), then schemathesis through the gateway of a system of its own"
	@echo "                    (ports 18081-18088, Kafka 19092, .run-fuzz/; binaries from CINEMA_BIN_DIR, default .build/debug)"
	@echo "make lint           swift format lint --strict (the style in .swift-format);  make format fixes it"
	@echo "make image-build-check  the image's build script (release binaries into .build/dist) + Dockerfile check"
	@echo "make k8s-check      render k8s/ (kustomize), validate, lint, test it against the code and the running processes"
	@echo "make clean          stop everything and remove .run;  make distclean also removes .tools"

setup:
	@bash scripts/setup.sh

build:
	swift build -c release

broker: setup
	@bash scripts/broker.sh start

broker-stop:
	@bash scripts/broker.sh stop

up:
	@bash scripts/cinema.sh up

down:
	@bash scripts/cinema.sh down

status:
	@bash scripts/cinema.sh status

logs:
	@bash scripts/cinema.sh logs

events:
	@bash scripts/cinema.sh events

dlt:
	@bash scripts/cinema.sh dlt list

# make trace ID=<trace id>: one reservation's saga across the processes (logs + events).
trace:
	@bash scripts/cinema.sh trace "$(ID)"

rebuild-view:
	@bash scripts/cinema.sh rebuild-view

postgres:
	@bash scripts/postgres.sh start

postgres-stop:
	@bash scripts/postgres.sh stop

dlt-replay:
	@bash scripts/cinema.sh dlt replay $(GROUPS)

# Static pattern rules: a plain `start-%` pattern would be skipped for .PHONY targets.
$(START_TARGETS): start-%:
	@bash scripts/cinema.sh start $*

$(STOP_TARGETS): stop-%:
	@bash scripts/cinema.sh stop $*

# The integration tests start their own brokers and services on free ports, so `make test`
# neither needs nor disturbs a running `make up`. make exits non-zero (2) when swift test fails.
#
# Then the same service tests again on PostgreSQL (a private server under .run/postgres, each
# test service in a database of its own), and the PostgreSQL store's own tests: the same
# repository code on both engines.
PG_TEST_URL = $(shell bash scripts/postgres.sh url postgres)
PG_TEST_SUITES := MovieServiceTests|ReservationServiceTests|PaymentServiceTests|MessageServiceTests|ViewpageServiceTests|PostgresStoreTests|OutboxMigrationTests|ScaleOutTests

# The server is stopped afterwards unless it was already running (`make up CINEMA_DB=postgres`
# uses the same one): a second checkout's `make test` must find port 5433 free.
test: setup lint
	$(TEST_ENV) swift build --build-tests
	$(TEST_ENV) swift test $(SWIFT_TEST_FLAGS)
	@was_running=0; bash scripts/postgres.sh status | grep -q '^postgres: running' && was_running=1; \
	status=0; bash scripts/postgres.sh start && bash scripts/postgres.sh drop-test-databases && \
	$(TEST_ENV) CINEMA_TEST_DATABASE_URL=$(PG_TEST_URL) swift test --skip-build --filter '$(PG_TEST_SUITES)' || status=$$?; \
	bash scripts/postgres.sh drop-test-databases || true; \
	if ((was_running == 0)); then bash scripts/postgres.sh stop; fi; exit $$status

# One style, checked: .swift-format at the root; `make format` rewrites, `make lint` only judges.
FORMAT_PATHS := Package.swift Sources Tests

lint:
	swift format lint --strict --parallel --recursive $(FORMAT_PATHS)

format:
	swift format format --in-place --parallel --recursive $(FORMAT_PATHS)

# The drills start their own brokers and processes, like the integration tests. Their figures are
# rendered into RELIABILITY.md even when a drill fails; the failure still fails the target.
DRILLS ?= full
DRILL_FIGURES := $(ROOT)/.run/drills/figures.jsonl

drills: setup
	$(TEST_ENV) swift build --build-tests
	@mkdir -p $(dir $(DRILL_FIGURES)) && rm -f $(DRILL_FIGURES)
	@status=0; $(TEST_ENV) CINEMA_DRILLS=$(DRILLS) CINEMA_DRILL_FIGURES=$(DRILL_FIGURES) \
		swift test --skip-build --filter 'Drills|HostileInputTests' || status=$$?; \
	CINEMA_DRILLS=$(DRILLS) python3 scripts/drill-table.py $(DRILL_FIGURES) RELIABILITY.md; exit $$status

# The benchmark harness (scripts/bench.py): CINEMA_BIN_DIR=... reuses release binaries.
bench: setup
	python3 scripts/bench.py

bench-smoke: setup
	python3 scripts/bench.py --smoke --out $(ROOT)/.run/bench-smoke.md

# The OpenAPI document against the running system (scripts/fuzz-api.sh); reuses built binaries.
fuzz-api: setup
	@bash scripts/fuzz-api.sh

# The container image's build, without Docker: the script the Dockerfile's build stage runs, then
# a check that the Dockerfile matches the tree and installs what the binaries need.
image-build-check: setup
	bash scripts/build-release.sh $(ROOT)/.build/dist
	python3 scripts/dockerfile-check.py --runtime-packages $(ROOT)/.build/dist/runtime-packages

# The Kubernetes manifests, without a cluster (scripts/k8s-check.sh says what is checked).
k8s-check:
	@bash scripts/k8s-check.sh

clean:
	@bash scripts/cinema.sh down
	rm -rf .run

distclean: clean
	rm -rf .tools
