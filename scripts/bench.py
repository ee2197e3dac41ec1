#!/usr/bin/env python3
"""`make bench`: measures Cinema beside a baseline taken in the same run, prints one table and
writes BENCHMARKS.md.

    scripts/bench.py [--smoke] [--out BENCHMARKS.md] [--only e2e,propagation,http,footprint,kafka,growth,rebuild]

Python rather than Swift: the work is starting processes, driving wrk/nginx/kcat and reading
their output, which a script does in a few lines without a build step; the one measurement that
needs our own code (the Kafka producer and consumer) is the `cinema-bench` executable.

Everything runs on loopback, on free ports, under .run/bench (its own broker, services and nginx;
never the fixed ports `make up` uses), every section with a time bound, and everything it started
is stopped at the end. The machine may be shared and noisy, which is why each figure stands beside
a baseline measured minutes apart in the same run: read the ratios, not the absolute values.

--smoke (CI): the same code path with tiny sizes and short runs; fails unless every section
produced numbers. --only: some sections (to measure one fix before and after; write elsewhere
than BENCHMARKS.md with --out).

Environment: CINEMA_BIN_DIR (release binaries; default: `swift build -c release` here),
CINEMA_BENCH_BIN (cinema-bench; default: beside the services), BENCH_DURATION (seconds per load
run), BENCH_KAFKA_EVENTS (default 1,000,000; smoke 20,000), BENCH_GROWTH_SIZES (rows present for the
growth section, default "10000 100000 1000000"; smoke "1000 2000"), BENCH_REBUILD_EVENTS (the view
rebuild, default 100,000; smoke 2,000).
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, ".run", "bench")
TOOLS = os.path.join(ROOT, ".tools")
HOST = "127.0.0.1"
# The services in start order; the gateway last, as scripts/cinema.sh does.
SERVICES = ["movie", "payment", "reservation", "message", "viewpage", "gateway"]
KAFKA_ENV = {"LD_LIBRARY_PATH": os.path.join(TOOLS, "lib")}


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=5):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def created_id(data):
    """The id at the end of a created item's self link (HAL), whatever the entity calls its id."""
    try:
        return int(json.loads(data)["_links"]["self"]["href"].rstrip("/").rsplit("/", 1)[1])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def proc_field_mib(path, field):
    """A `Field:   123 kB` line of a /proc file, in MiB; None if the process is gone."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mib(pid):
    return proc_field_mib(f"/proc/{pid}/status", "VmRSS")


def private_dirty_mib(pid):
    """Memory only this process has written (heap, stacks, written data): what it really costs the machine. RSS also
    counts the clean pages of its binary's code it has touched, which the kernel can drop and read again."""
    return proc_field_mib(f"/proc/{pid}/smaps_rollup", "Private_Dirty")


class Processes:
    """Everything this run started, stopped in reverse order (SIGTERM, then SIGKILL)."""

    def __init__(self):
        self.started = []

    def start(self, name, argv, env=None, cwd=None):
        logfile = open(os.path.join(RUN, "logs", f"{name}.log"), "ab")
        process = subprocess.Popen(
            argv, env={**os.environ, **(env or {})}, cwd=cwd or RUN, stdin=subprocess.DEVNULL, stdout=logfile,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append((name, process))
        return process

    def stop(self, process, timeout=15):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.started = [(n, p) for n, p in self.started if p is not process]

    def stop_all(self):
        for _, process in reversed(list(self.started)):
            self.stop(process)


class Cinema:
    """The broker, the six processes and nginx, on free ports under .run/bench."""

    def __init__(self, processes, bin_dir, engine, postgres_port=None):
        self.processes = processes
        self.bin_dir = bin_dir
        self.engine = engine
        self.postgres_port = postgres_port
        self.ports = {name: free_port() for name in SERVICES}
        self.kafka_port = free_port()
        self.brokers = f"{HOST}:{self.kafka_port}"
        self.running = {}
        self.ready_seconds = {}

    def url(self, name):
        return f"http://{HOST}:{self.ports[name]}"

    def start_broker(self):
        listener = f"tcp://{self.brokers}"
        self.processes.start("tansu", [
            os.environ.get("TANSU_BIN", os.path.join(TOOLS, "bin", "tansu")), "broker", "--listener-url", listener,
            "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"])
        if not wait_until(lambda: self.kcat(["-L", "-m", "2"], timeout=5).returncode == 0, 60, 0.5):
            raise SystemExit("bench: the broker did not answer within 60 s")
        for topic in ["cinema", "cinema.DLT", "bench-ours", "bench-kcat"]:
            self.create_topic(topic)

    def create_topic(self, topic):
        subprocess.run(
            [os.environ.get("TANSU_BIN", os.path.join(TOOLS, "bin", "tansu")), "topic", "create", topic, "--partitions", "3",
             "--broker", f"tcp://{self.brokers}"], check=True, capture_output=True, timeout=30)

    def kcat(self, args, timeout=None, **kwargs):
        return subprocess.run(["kcat", "-b", self.brokers, *args], env={**os.environ, **KAFKA_ENV}, timeout=timeout,
                              capture_output=True, **kwargs)

    def service_env(self, name):
        env = {"HOST": HOST, "PORT": str(self.ports[name]), "KAFKA_BROKERS": self.brokers, "KAFKA_TOPIC": "cinema",
               "LOG_LEVEL": "warning", **KAFKA_ENV}
        if name != "gateway" and self.engine == "postgres":
            env["DATABASE_URL"] = f"postgres://cinema@{HOST}:{self.postgres_port}/{name}"
        elif name != "gateway":
            env["DATABASE_PATH"] = self.database(name)
        if name == "reservation":
            env.update(PAYMENT_URL=self.url("payment"), MOVIE_URL=self.url("movie"))
        if name == "gateway":
            env.update({f"{other.upper()}_URL": self.url(other) for other in SERVICES if other != "gateway"})
        return env

    def database(self, name):
        return os.path.join(RUN, "data", f"{name}.sqlite")

    def query(self, name, sql):
        """Rows of one query against a service's database, whichever the engine."""
        if self.engine == "postgres":
            result = subprocess.run(
                ["psql", "-h", HOST, "-p", str(self.postgres_port), "-U", "cinema", "-d", name, "-AtF", "\t", "-c", sql],
                capture_output=True, text=True, timeout=30, check=True)
            return [tuple(line.split("\t")) for line in result.stdout.splitlines()]
        connection = sqlite3.connect(f"file:{self.database(name)}?mode=ro", uri=True, timeout=5)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()

    def start(self, name):
        started = time.monotonic()
        process = self.processes.start(name, [os.path.join(self.bin_dir, name)], env=self.service_env(name))
        ready = wait_until(lambda: process.poll() is not None or http("GET", self.url(name) + "/ready", timeout=1)[0] == 200,
                           90, 0.005)
        if not ready or process.poll() is not None:
            raise SystemExit(f"bench: {name} did not become ready (log: .run/bench/logs/{name}.log)")
        self.ready_seconds[name] = time.monotonic() - started
        self.running[name] = process

    def start_all(self):
        for name in SERVICES:
            self.start(name)


class Nginx:
    """A private nginx: its own prefix and configuration under .run/bench/nginx, loopback only,
    proxying to an upstream with keepalive and serving one static file."""

    def __init__(self, processes, upstream_port, static_bytes):
        self.port = free_port()
        prefix = os.path.join(RUN, "nginx")
        os.makedirs(os.path.join(prefix, "html", "static"), exist_ok=True)
        with open(os.path.join(prefix, "html", "static", "item.json"), "wb") as f:
            f.write(static_bytes)
        # As root nginx's workers would become nobody: let them read the file.
        for path in [prefix, os.path.join(prefix, "html"), os.path.join(prefix, "html", "static")]:
            os.chmod(path, 0o755)
        config = f"""
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp-body;
    proxy_temp_path {prefix}/tmp-proxy;
    fastcgi_temp_path {prefix}/tmp-fastcgi;
    uwsgi_temp_path {prefix}/tmp-uwsgi;
    scgi_temp_path {prefix}/tmp-scgi;
    upstream service {{ server {HOST}:{upstream_port}; keepalive 64; }}
    server {{
        listen {HOST}:{self.port};
        location /static/ {{ root {prefix}/html; default_type application/hal+json; }}
        location / {{
            proxy_pass http://service;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(config)
        self.process = processes.start("nginx", ["nginx", "-p", prefix, "-c", conf, "-g", "daemon off;"])
        if not wait_until(lambda: http("GET", self.url("/static/item.json"), timeout=1)[0] == 200, 15):
            raise SystemExit("bench: nginx did not start (see .run/bench/nginx/error.log)")

    def url(self, path):
        return f"http://{HOST}:{self.port}{path}"


WRK_SCRIPT = """
wrk.method = "%(method)s"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/json"
function done(summary, latency, requests)
    local bad = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.timeout
    io.write(string.format(
        'WRK-JSON {"requests": %%d, "non2xx": %%d, "seconds": %%f, "errors": %%d, "p50": %%f, "p99": %%f, "p999": %%f}\\n',
        summary.requests, summary.errors.status, summary.duration / 1e6, bad, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
        latency:percentile(99.9) / 1e3))
end
"""


def wrk(url, connections, duration, method="GET", body=None, during=None):
    """One wrk run; returns requests/s, latency percentiles in ms, errors. `during` is called
    half-way through (to sample RSS under load)."""
    script = os.path.join(RUN, f"wrk-{method.lower()}.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT % {"method": method, "body": "nil" if body is None else json.dumps(json.dumps(body))})
    threads = min(2, connections)
    process = subprocess.Popen(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "5s", "-s", script, url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if during:
        time.sleep(duration / 2)
        during()
    output, _ = process.communicate(timeout=duration + 30)
    line = next((line for line in output.splitlines() if line.startswith("WRK-JSON ")), None)
    if line is None:
        raise SystemExit(f"bench: wrk gave no summary for {url}:\n{output}")
    result = json.loads(line[len("WRK-JSON "):])
    # Only answers that succeeded count; a run in which none did has no figure (and fails --smoke).
    succeeded = result["requests"] - result["non2xx"]
    result["rps"] = succeeded / result["seconds"] if succeeded > 0 and result["seconds"] else None
    return result


class Report:
    """The rows of the table: a figure, its baseline and, where the issue names one, a target on
    the ratio (or on the value)."""

    def __init__(self):
        self.rows = []
        self.notes = []
        # The engine of the pass being measured, named in every section that depends on it.
        self.engine = None

    def add(self, section, figure, value, unit, baseline=None, baseline_name="", target=None, higher_is_better=True,
            verdict=""):
        ratio = value / baseline if baseline and value is not None else None
        if self.engine and section != "Kafka":
            section = f"{section} ({self.engine})"
        if target is not None:
            kind, threshold = target
            measured = ratio if kind == "ratio" else value
            ok = measured is not None and (measured >= threshold if higher_is_better else measured <= threshold)
            verdict = "PASS" if ok else "MISS"
        self.rows.append(dict(section=section, figure=figure, value=value, unit=unit, baseline=baseline,
                              baseline_name=baseline_name, ratio=ratio, target=target, higher=higher_is_better,
                              verdict=verdict))

    @staticmethod
    def number(value):
        if value is None:
            return "–"
        if isinstance(value, int):
            return f"{value:,}"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"

    def target_text(self, row):
        if row["target"] is None:
            return ""
        kind, threshold = row["target"]
        sign = "≥" if row["higher"] else "≤"
        return f"{sign} {threshold:g}x" if kind == "ratio" else f"{sign} {threshold:g} {row['unit']}"

    def table(self):
        header = ["section", "figure", "value", "baseline", "ratio", "target", ""]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in self.rows:
            baseline = f"{self.number(row['baseline'])} ({row['baseline_name']})" if row["baseline"] is not None else "–"
            ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "–"
            lines.append("| " + " | ".join([
                row["section"], row["figure"], f"{self.number(row['value'])} {row['unit']}", baseline, ratio,
                self.target_text(row), row["verdict"]]) + " |")
        return "\n".join(lines)


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    memory = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    return {
        "cores": os.cpu_count(), "model": model, "memory": f"{memory / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(), "swift": swift[0] if swift else "?", "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min, at the start)",
    }


def pipeline_state(cinema):
    """The reservations by status, and the events still waiting in the services' outboxes (the
    kit's `outbox` table; `parked_outbox` holds what was parked, not pending)."""
    backlog = 0
    for name in SERVICES[:-1]:
        backlog += int(cinema.query(name, "SELECT count(*) FROM outbox")[0][0])
    statuses = {status: int(count) for status, count in
                cinema.query("reservation", 'SELECT status, count(*) FROM reservation GROUP BY status')}
    return statuses, backlog


def section_end_to_end(cinema, report, duration, concurrencies, movie_id):
    body = {"movieId": movie_id}
    rss_under_load = {}

    def sample_rss():
        for name, process in cinema.running.items():
            rss_under_load[name] = max(rss_under_load.get(name, 0), rss_mib(process.pid) or 0)

    for connections in concurrencies:
        direct = wrk(cinema.url("reservation") + "/reservations", connections, duration, "POST", body)
        through = wrk(cinema.url("gateway") + "/reservations", connections, duration, "POST", body,
                      during=sample_rss if connections == 32 or connections == concurrencies[-1] else None)
        label = f"c={connections}"
        target = ("value", 1000) if connections == 32 else None
        report.add("end to end", f"POST /reservations via gateway, {label}", through["rps"], "req/s", direct["rps"],
                   "reservation direct", target)
        report.add("end to end", f"  p50 {label}", through["p50"], "ms", direct["p50"], "direct")
        report.add("end to end", f"  p99 {label}", through["p99"], "ms", direct["p99"], "direct",
                   ("value", 50) if connections == 32 else None, higher_is_better=False)
        report.add("end to end", f"  p99.9 {label}", through["p999"], "ms", direct["p999"], "direct")
        report.add("end to end", f"  errors (non-2xx, socket) {label}", through["errors"], "", direct["errors"], "direct")
        statuses, backlog = pipeline_state(cinema)
        report.add("end to end", f"  outbox backlog right after {label}", backlog, "events")
    # Keeps up: the backlog drains and every reservation reaches a final status.
    started = time.monotonic()
    final = {"reserved", "cancelled", "rejected"}
    applied = {"count": -1, "since": time.monotonic()}

    def view_caught_up():
        # Once every outbox is empty every event is on the topic; viewpage has no lag left when
        # the events it has applied (its inbox) stop growing for 2 s.
        count = int(cinema.query("viewpage", "SELECT count(*) FROM inbox")[0][0])
        if count != applied["count"]:
            applied.update(count=count, since=time.monotonic())
        return time.monotonic() - applied["since"] >= 2

    drained = wait_until(lambda: (lambda s, b: b == 0 and s and set(s) <= final)(*pipeline_state(cinema))
                         and view_caught_up(), 120, 0.5)
    statuses, backlog = pipeline_state(cinema)
    report.add("end to end", "keeps up: after the load, outboxes empty, every reservation final, the view current (2 s quiet) within",
               time.monotonic() - started, "s", verdict="PASS" if drained else "MISS")
    report.notes.append(f"{cinema.engine}: reservations by status at the end: {json.dumps(statuses)}; outbox backlog {backlog}"
                        f"{'' if drained else ' (NOT drained within 120 s)'}.")
    return rss_under_load


def section_propagation(cinema, report, samples, movie_id):
    """From POST /reservations returning to the MovieView showing it: the view's latest
    reservation for the movie (`rsvId`) is the one just created."""
    def view_shows(rsv_id):
        status, data = http("GET", f"{cinema.url('viewpage')}/movieviews/{movie_id}", timeout=2)
        return status == 200 and json.loads(data).get("rsvId") == rsv_id

    # After an overload the payment circuit breaker may still be open (503): wait until a
    # reservation is accepted again, so that the figure is about propagation, not refusal.
    wait_until(lambda: http("POST", cinema.url("gateway") + "/reservations", {"movieId": movie_id})[0] == 201, 60, 0.5)
    delays, missed, refused = [], 0, {}
    deadline = time.monotonic() + 90
    for _ in range(samples):
        if time.monotonic() > deadline:
            report.notes.append(f"Propagation: stopped at its 90 s bound after {len(delays) + missed} samples.")
            break
        status, data = http("POST", cinema.url("gateway") + "/reservations", {"movieId": movie_id})
        returned = time.monotonic()
        rsv_id = created_id(data)
        if status != 201 or rsv_id is None:
            refused[status] = refused.get(status, 0) + 1
            continue
        if not wait_until(lambda: view_shows(rsv_id), 10, 0.002):
            missed += 1
            continue
        delays.append((time.monotonic() - returned) * 1000)
    if missed:
        report.notes.append(f"Propagation: {missed} of {samples} reservations were not seen in the MovieView within 10 s.")
    if refused:
        report.notes.append(f"Propagation: POST /reservations refused {sum(refused.values())} times (by status: {refused}).")
    if delays:
        delays.sort()
        report.add("propagation", f"POST returned → MovieView shows it, p50 ({len(delays)} sequential)",
                   statistics.median(delays), "ms")
        report.add("propagation", "  p99", delays[min(len(delays) - 1, int(len(delays) * 0.99))], "ms")


def section_http(cinema, report, duration, movie_id):
    path = f"/movies/{movie_id}"
    status, item = http("GET", cinema.url("movie") + path)
    if status != 200:
        raise SystemExit(f"bench: GET {path} answered {status}")
    nginx = Nginx(cinema.processes, cinema.ports["movie"], item)
    direct = wrk(cinema.url("movie") + path, 32, duration)
    gateway = wrk(cinema.url("gateway") + path, 32, duration)
    proxied = wrk(nginx.url(path), 32, duration)
    static = wrk(nginx.url("/static/item.json"), 32, duration)
    report.add("gateway", f"GET {path} through our gateway, c=32", gateway["rps"], "req/s", proxied["rps"],
               "nginx proxy_pass", ("ratio", 0.9))
    report.add("gateway", "  direct to the movie service", direct["rps"], "req/s", proxied["rps"], "nginx proxy_pass")
    report.add("gateway", "  p99 through our gateway", gateway["p99"], "ms", proxied["p99"], "nginx", higher_is_better=False)
    report.add("HTTP ceiling", f"GET {path} from the movie service, c=32", direct["rps"], "req/s", static["rps"],
               f"nginx static file, same {len(item)} bytes", ("ratio", 0.5))
    view = wrk(f"{cinema.url('viewpage')}/movieviews/{movie_id}", 32, duration)
    report.add("HTTP ceiling", f"GET /movieviews/{movie_id} from viewpage, c=32", view["rps"], "req/s", static["rps"],
               "nginx static file")
    return nginx


def section_kafka(cinema, report, bench_bin, events):
    # The documented size: that of the events the system really publishes (a ReservationCreated...).
    sample = cinema.kcat(["-C", "-t", "cinema", "-o", "beginning", "-c", "200", "-e", "-q", "-f", "%S\\n"], timeout=60)
    sizes = [int(s) for s in sample.stdout.decode().split() if s.isdigit()]
    size = int(statistics.median(sizes)) if sizes else 300
    env = {**os.environ, **KAFKA_ENV}
    # Generous (1,000 events/s would be a tenth of the slowest figure seen), but bounded.
    kafka_timeout = 60 + events / 1000

    def ours(mode, topic):
        argv = [bench_bin, mode, cinema.brokers, topic, str(events)] + ([str(size)] if mode == "produce" else [])
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=kafka_timeout)
        if result.returncode != 0:
            raise SystemExit(f"bench: cinema-bench {mode} failed: {result.stderr[-2000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])["messagesPerSecond"]

    payload = os.path.join(RUN, "kafka-payload.txt")
    with open(payload, "w") as f:
        line = "x" * size + "\n"
        for _ in range(events):
            f.write(line)
    produced = ours("produce", "bench-ours")
    started = time.monotonic()
    # kcat with the same guarantees as our producer: idempotent, acks=all.
    result = cinema.kcat(["-P", "-t", "bench-kcat", "-X", "enable.idempotence=true", "-X", "acks=all", "-l", payload],
                         timeout=kafka_timeout)
    kcat_produce = events / (time.monotonic() - started)
    if result.returncode != 0:
        raise SystemExit(f"bench: kcat -P failed: {result.stderr.decode()[-2000:]}")
    report.add("Kafka", f"produce {events:,} events of {size} B (our producer)", produced, "msg/s", kcat_produce,
               "kcat -P -l (librdkafka)", ("ratio", 0.9))
    consumed = ours("consume", "bench-ours")
    started = time.monotonic()
    result = cinema.kcat(["-C", "-t", "bench-ours", "-o", "beginning", "-c", str(events), "-e", "-q", "-f", "%o\\n"],
                         timeout=kafka_timeout)
    kcat_consume = events / (time.monotonic() - started)
    read = len(result.stdout.split())
    if read != events:
        raise SystemExit(f"bench: kcat -C read {read} of {events} events: {result.stderr.decode()[-500:]}")
    report.add("Kafka", f"consume {events:,} events (our consumer)", consumed, "msg/s", kcat_consume, "kcat -C -e")
    report.notes.append(
        "Kafka baseline: Debian has no rdkafka_performance (librdkafka's tool is not packaged, and its source "
        "needs librdkafka's internal headers), so the baseline is kcat, built on the same librdkafka, producing "
        "from a file with the same idempotence and acks. kcat's time includes connecting; ours counts consuming "
        "from the first message (the group join is excluded).")


def section_footprint(cinema, report, rss_idle, rss_loaded, dirty_idle=None):
    for name in SERVICES:
        report.add("footprint", f"{name}: exec → /ready", cinema.ready_seconds[name] * 1000, "ms",
                   target=("value", 200), higher_is_better=False)
        report.add("footprint", f"{name}: RSS idle", rss_idle.get(name), "MiB", target=("value", 40), higher_is_better=False)
        report.add("footprint", f"{name}:   of which private dirty (heap, stacks, written data)", (dirty_idle or {}).get(name), "MiB")
        report.add("footprint", f"{name}: RSS under load (max sampled)", rss_loaded.get(name), "MiB")


# --- growth: the same queries with 10 k, 100 k and 1 M rows already present (issue 10 point 1) ---

GROWTH_SIZES = [10_000, 100_000, 1_000_000]
GROWTH_SMOKE_SIZES = [1_000, 2_000]
REBUILD_EVENTS = 100_000
REBUILD_SMOKE_EVENTS = 2_000


def growth_timestamp():
    """The events' and inboxes' `yyyyMMddHHmmss`, local time (EventTimestamp)."""
    return time.strftime("%Y%m%d%H%M%S")


class GrowthSeeder:
    """Adds rows to the services' databases the way the services would have written them after
    that many reserved movies: per movie its row, its one held seat, its MovieView row (showing
    the reservation and its payment), the reservation, the payment, the confirmation message,
    one inbox row in each consumer, and the id sequences moved past them (so the services' next
    ids never collide). Straight SQL in one transaction per table (a series generated by the
    database: `generate_series` on PostgreSQL, a recursive CTE on SQLite), not HTTP calls: a
    million requests would take hours."""

    def __init__(self, cinema):
        self.cinema = cinema
        self.movies = 0
        self.first_movie = None

    def execute(self, name, statements):
        """Runs the statements in one transaction on the service's database."""
        if self.cinema.engine == "postgres":
            script = "BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT;\n"
            subprocess.run(
                ["psql", "-h", HOST, "-p", str(self.cinema.postgres_port), "-U", "cinema", "-d", name, "-q",
                 "-v", "ON_ERROR_STOP=1", "-f", "-"], input=script, text=True, capture_output=True, timeout=600,
                check=True)
            return
        # The service has the file open too (WAL): this is one more writer, waited for.
        connection = sqlite3.connect(self.cinema.database(name), timeout=60, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            for statement in statements:
                connection.execute(statement)
            connection.execute("COMMIT")
        finally:
            connection.close()

    def series(self, table, columns, values, count):
        """`INSERT INTO table (columns) SELECT values FROM i = 0..count-1`; `values` use `i`."""
        quoted = ", ".join(f'"{column}"' for column in columns)
        if self.cinema.engine == "postgres":
            return f'INSERT INTO "{table}" ({quoted}) SELECT {values} FROM generate_series(0, {count - 1}) AS s(i)'
        return (f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {count - 1}) "
                f'INSERT INTO "{table}" ({quoted}) SELECT {values} FROM s')

    def sequence_past(self, table, column, last):
        """The table's id sequence (AUTOINCREMENT / identity) moved to at least `last`."""
        if self.cinema.engine == "postgres":
            sequence = f"pg_get_serial_sequence('{table}', '{column}')"
            return [f"SELECT setval({sequence}, GREATEST(nextval({sequence}), {last}))"]
        return [f"UPDATE sqlite_sequence SET seq = max(seq, {last}) WHERE name = '{table}'",
                f"INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', {last} "
                f"WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{table}')"]

    def uuid(self):
        """A lower-case UUID text as the outbox gives messages (inbox keys)."""
        if self.cinema.engine == "postgres":
            return "gen_random_uuid()::text"
        hexa = "lower(hex(randomblob(16)))"
        return (f"(SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || "
                f"substr(h, 17, 4) || '-' || substr(h, 21) FROM (SELECT {hexa} AS h) WHERE i >= 0)")

    def max_id(self, name, table, column):
        return int(self.cinema.query(name, f'SELECT COALESCE(MAX("{column}"), 0) FROM "{table}"')[0][0] or 0)

    def grow_to(self, total):
        """Adds what is missing for `total` seeded movies; returns the seconds it took."""
        add = total - self.movies
        if add <= 0:
            return 0.0
        started = time.monotonic()
        movie = self.max_id("movie", "movie", "movieId") + 1
        rsv = max(self.max_id("reservation", "reservation", "rsvId"),
                  self.max_id("reservation", "pending_payment", "rsvId")) + 1
        pay = self.max_id("payment", "payment", "payId") + 1
        msg = self.max_id("message", "message", "msgId") + 1
        if self.first_movie is None:
            self.first_movie = movie
        now = growth_timestamp()
        desc = "'Growth movie ' || i"
        self.execute("movie", [
            self.series("movie", ["movieId", "status", "desc", "reviewCnt", "lastAction", "seats", "reservedSeats"],
                        f"{movie} + i, 'reserved', {desc}, 0, 'reserved', NULL, 1", add),
            self.series("movie_reservation", ["rsvId", "movieId"], f"{rsv} + i, {movie} + i", add),
            *self.sequence_past("movie", "movieId", movie + add - 1),
        ])
        self.execute("viewpage", [
            self.series("movieview", ["movieId", "desc", "reviewCnt", "movieStatus", "rsvId", "rsvStatus", "payId",
                                      "payStatus"],
                        f"{movie} + i, {desc}, 0, 'reserved', {rsv} + i, 'reserved', {pay} + i, 'paid'", add),
        ])
        self.execute("reservation", [
            self.series("reservation", ["rsvId", "movieId", "status", "payId"],
                        f"{rsv} + i, {movie} + i, 'reserved', {pay} + i", add),
            self.series("known_movie", ["movieId"], f"{movie} + i", add),
            *self.sequence_past("pending_payment", "rsvId", rsv + add - 1),
        ])
        self.execute("payment", [
            self.series("payment", ["payId", "rsvId", "movieId", "status"], f"{pay} + i, {rsv} + i, {movie} + i, 'paid'",
                        add),
            *self.sequence_past("payment", "payId", pay + add - 1),
        ])
        self.execute("message", [
            self.series("message", ["msgId", "movieId", "content"],
                        f"{msg} + i, {movie} + i, '예약이 완료 되었습니다. 예약 영화 번호 : [' || ({movie} + i) || ']'", add),
            *self.sequence_past("message", "msgId", msg + add - 1),
        ])
        for name in SERVICES[:-1]:
            self.execute(name, [self.series("inbox", ["messageId", "eventType", "appliedAt"],
                                            f"{self.uuid()}, 'ReservationConfirmed', '{now}'", add)])
        if self.cinema.engine == "postgres":
            # What autovacuum would have done by the time a table has grown so: planner statistics.
            for name in SERVICES[:-1]:
                self.execute(name, ["ANALYZE"])
        self.movies = total
        return time.monotonic() - started


def wait_for_drained_outboxes(cinema, timeout=120):
    """Seconds until every outbox is empty after a load, or None."""
    started = time.monotonic()
    drained = wait_until(lambda: pipeline_backlog(cinema) == 0, timeout, 0.5)
    return time.monotonic() - started if drained else None


def pipeline_backlog(cinema):
    return sum(int(cinema.query(name, "SELECT count(*) FROM outbox")[0][0]) for name in SERVICES[:-1])


def wait_for_quiet_consumers(cinema, quiet=2.0, timeout=180):
    """Until every outbox is empty and no service's inbox has grown for `quiet` seconds: the consumers have caught up
    with the load before (the seeder reads each table's largest id, so a service still inserting beside it would take
    the same ids)."""
    last = {"counts": None, "since": time.monotonic()}

    def quiet_now():
        counts = [int(cinema.query(name, "SELECT count(*) FROM inbox")[0][0]) for name in SERVICES[:-1]]
        if counts != last["counts"]:
            last.update(counts=counts, since=time.monotonic())
        return pipeline_backlog(cinema) == 0 and time.monotonic() - last["since"] >= quiet

    return wait_until(quiet_now, timeout, 0.5)


def section_growth(cinema, report, duration, sizes, movie_id):
    """The view queries and end to end, each size beside the smallest one as baseline: flat as
    data grows reads as a ratio near 1."""
    seeder = GrowthSeeder(cinema)
    baseline = {}
    size_name = lambda rows: f"{rows:,} rows"
    for rows in sizes:
        if not wait_for_quiet_consumers(cinema):
            raise SystemExit("bench: growth: the consumers did not catch up within 180 s before seeding")
        seconds = seeder.grow_to(rows)
        report.notes.append(f"Growth ({cinema.engine}): seeding to {rows:,} movies (each with its reservation, payment, "
                            f"message, view row and inbox rows) took {seconds:.1f} s.")
        # The same item at every size (one of the first size's rows, in its middle), and the
        # collection's first page and a page half-way through it.
        probe = seeder.first_movie + sizes[0] // 2
        middle_page = rows // 2 // PAGE_SIZE
        queries = [
            ("GET /movies/{id} (movie service)", f"{cinema.url('movie')}/movies/{probe}", "GET", None),
            ("GET /movieviews/{id} (viewpage)", f"{cinema.url('viewpage')}/movieviews/{probe}", "GET", None),
            (f"GET /movieviews?page=0&size={PAGE_SIZE} (viewpage)",
             f"{cinema.url('viewpage')}/movieviews?page=0&size={PAGE_SIZE}", "GET", None),
            (f"GET /movieviews, the middle page (viewpage)",
             f"{cinema.url('viewpage')}/movieviews?page={middle_page}&size={PAGE_SIZE}", "GET", None),
            ("end to end: POST /reservations via gateway", cinema.url("gateway") + "/reservations", "POST",
             {"movieId": movie_id}),
        ]
        for label, url, method, body in queries:
            result = wrk(url, 32, duration, method, body)
            figure = f"{label}, c=32, {size_name(rows)}"
            if rows == sizes[0]:
                baseline[label] = result
                report.add("growth", figure, result["rps"], "req/s")
                report.add("growth", f"  p99, {size_name(rows)}", result["p99"], "ms")
            else:
                first = baseline[label]
                report.add("growth", figure, result["rps"], "req/s", first["rps"], size_name(sizes[0]), ("ratio", 0.9))
                report.add("growth", f"  p99, {size_name(rows)}", result["p99"], "ms", first["p99"], size_name(sizes[0]),
                           higher_is_better=False)
            if method == "POST":
                # Keeps up: what the load left in the outboxes is published, at every size.
                drained = wait_for_drained_outboxes(cinema)
                report.add("growth", f"  outboxes empty after it within, {size_name(rows)}", drained, "s",
                           verdict="PASS" if drained is not None else "MISS")


PAGE_SIZE = 20


def rebuild_events(path, count):
    """`count` events as the services publish them (the JSON of each, keyed by movie id), in the
    order one reservation of a movie produces them: MovieRegistered, PaymentApproved,
    ReservationConfirmed, MovieReserved (four per movie). Key and value separated by a tab for
    kcat -K. No message-id header: the inbox keys them by topic, partition and offset."""
    now = growth_timestamp()
    with open(path, "w") as f:
        for n in range(count):
            movie, step = n // 4 + 1, n % 4
            if step == 0:
                body = {"eventType": "MovieRegistered", "timestamp": now, "movieId": movie, "status": "available",
                        "desc": f"Rebuild movie {movie}", "reviewCnt": 0, "lastAction": "register", "me": True}
            elif step == 1:
                body = {"eventType": "PaymentApproved", "timestamp": now, "payId": movie, "rsvId": movie,
                        "movieId": movie, "status": "paid", "me": True}
            elif step == 2:
                body = {"eventType": "ReservationConfirmed", "timestamp": now, "rsvId": movie, "movieId": movie,
                        "status": "reserved", "payId": movie, "me": True}
            else:
                body = {"eventType": "MovieReserved", "timestamp": now, "movieId": movie, "status": "reserved",
                        "desc": f"Rebuild movie {movie}", "reviewCnt": 0, "lastAction": "reserved", "me": True}
            f.write(f"{movie}\t{json.dumps(body, ensure_ascii=False, separators=(',', ':'))}\n")


def section_rebuild(cinema, report, events):
    """The MovieView rebuilt from `events` events: a fresh viewpage (new database, new consumer
    group) reads a topic holding only them into an empty view, as `make rebuild-view` does, beside
    our consumer's raw rate (cinema-bench consume) on the same topic."""
    topic = f"bench-rebuild-{cinema.engine}"
    for name in [topic, f"{topic}.DLT"]:
        cinema.create_topic(name)
    path = os.path.join(RUN, f"{topic}.txt")
    rebuild_events(path, events)
    produced = cinema.kcat(["-P", "-t", topic, "-K", "\t", "-l", path], timeout=300)
    if produced.returncode != 0:
        raise SystemExit(f"bench: kcat -P failed: {produced.stderr.decode()[-500:]}")
    raw = subprocess.run([bench_binary(cinema.bin_dir), "consume", cinema.brokers, topic, str(events)],
                         env={**os.environ, **KAFKA_ENV}, capture_output=True, text=True, timeout=60 + events / 1000)
    if raw.returncode != 0:
        raise SystemExit(f"bench: cinema-bench consume failed: {raw.stderr[-1000:]}")
    raw_rate = json.loads(raw.stdout.strip().splitlines()[-1])["messagesPerSecond"]

    name = f"viewpage-rebuild-{cinema.engine}"
    env = {**cinema.service_env("viewpage"), "PORT": str(free_port()), "KAFKA_TOPIC": topic,
           "KAFKA_GROUP_ID": f"{name}-{int(time.time())}"}
    if cinema.engine == "postgres":
        database = "viewrebuild"
        subprocess.run(["psql", "-h", HOST, "-p", str(cinema.postgres_port), "-U", "cinema", "-d", "postgres", "-q", "-c",
                        f"DROP DATABASE IF EXISTS {database}", "-c", f"CREATE DATABASE {database}"],
                       check=True, capture_output=True, timeout=60)
        env["DATABASE_URL"] = f"postgres://cinema@{HOST}:{cinema.postgres_port}/{database}"
        view_rows = lambda: int(subprocess.run(
            ["psql", "-h", HOST, "-p", str(cinema.postgres_port), "-U", "cinema", "-d", database, "-At", "-c",
             "SELECT count(*) FROM inbox"], capture_output=True, text=True, timeout=30).stdout.strip() or 0)
    else:
        path = os.path.join(RUN, "data", f"{name}.sqlite")
        env["DATABASE_PATH"] = path

        def view_rows():
            if not os.path.exists(path):
                return 0
            try:
                connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
                try:
                    return int(connection.execute("SELECT count(*) FROM inbox").fetchone()[0])
                finally:
                    connection.close()
            except sqlite3.Error:
                return 0
    started = time.monotonic()
    process = cinema.processes.start(name, [os.path.join(cinema.bin_dir, "viewpage")], env=env)
    first = {}

    def applied_all():
        if process.poll() is not None:
            raise SystemExit(f"bench: the rebuilding viewpage exited (log: .run/bench/logs/{name}.log)")
        count = view_rows()
        if count and "at" not in first:
            first.update(at=time.monotonic(), count=count)
        return count >= events

    try:
        done = wait_until(applied_all, 60 + events / 200, 0.05)
        finished = time.monotonic()
    finally:
        cinema.processes.stop(process)
    if not done:
        raise SystemExit(f"bench: the rebuilding viewpage did not apply {events:,} events in time")
    applied_rate = (events - first["count"]) / (finished - first["at"]) if finished > first["at"] else None
    report.add("view rebuild", f"MovieView rebuilt from {events:,} events: exec → every event applied",
               finished - started, "s")
    report.add("view rebuild", "  events applied per second (first to last applied)", applied_rate, "events/s", raw_rate,
               "our consumer's raw rate, same topic")


def growth_sections(cinema, report, args, duration, movie_id):
    """The growth sections of one engine, run last: they add rows the other sections must not see."""
    sizes = [int(n) for n in os.environ.get("BENCH_GROWTH_SIZES", "").split()] or (
        GROWTH_SMOKE_SIZES if args.smoke else GROWTH_SIZES)
    events = int(os.environ.get("BENCH_REBUILD_EVENTS", REBUILD_SMOKE_EVENTS if args.smoke else REBUILD_EVENTS))
    return [
        ("growth", lambda: section_growth(cinema, report, duration, sizes, movie_id)),
        ("view rebuild", lambda: section_rebuild(cinema, report, events)),
    ]


def write_markdown(path, info, report, smoke, args):
    with open(path, "w") as f:
        f.write("# Benchmarks\n\n")
        f.write("Written by `make bench` (scripts/bench.py); read the README's \"Benchmarks\" section for what "
                "each figure means. Every figure stands beside a baseline measured in the same run on the same "
                "machine: compare the ratios, the absolute values move with the machine's load.\n\n")
        if smoke:
            f.write("**This is a smoke run (`--smoke`): tiny sizes, figures not meaningful.**\n\n")
        f.write("## Machine\n\n")
        for key, value in info.items():
            f.write(f"- {key}: {value}\n")
        f.write(f"- run: {args}\n\n## Figures\n\n")
        f.write(report.table() + "\n\n")
        if report.notes:
            f.write("## Notes\n\n" + "".join(f"- {note}\n" for note in report.notes) + "\n")


def release_binaries():
    if os.environ.get("CINEMA_BIN_DIR"):
        return os.environ["CINEMA_BIN_DIR"]
    flags = ["-c", "release", "--static-swift-stdlib"]
    log("swift build -c release (CINEMA_BIN_DIR=... to use binaries you have)")
    subprocess.run(["swift", "build", *flags], cwd=ROOT, check=True)
    return subprocess.run(["swift", "build", *flags, "--show-bin-path"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def bench_binary(bin_dir):
    candidates = [os.environ.get("CINEMA_BENCH_BIN"), os.path.join(bin_dir, "cinema-bench")]
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    if found:
        return found
    flags = ["-c", "release", "--static-swift-stdlib"]
    subprocess.run(["swift", "build", *flags, "--product", "cinema-bench"], cwd=ROOT, check=True)
    return os.path.join(subprocess.run(["swift", "build", *flags, "--show-bin-path"], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout.strip(), "cinema-bench")


class Postgres:
    """A private PostgreSQL server (scripts/postgres.sh) under .run/bench on a free port, with one
    database per service."""

    def __init__(self):
        self.port = free_port()
        self.env = {**os.environ, "PG_DIR": os.path.join(RUN, "postgres"), "PG_PORT": str(self.port)}

    def script(self, *args):
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "postgres.sh"), *args], env=self.env, check=True,
                       timeout=120, stdout=subprocess.DEVNULL)

    def start(self):
        self.script("start")
        self.script("createdb", *SERVICES[:-1])

    def stop(self):
        self.script("stop")


# What --only takes, per section of measure_engine, and the table sections each fills.
SECTION_KEYS = {"end to end": "e2e", "propagation": "propagation", "gateway and HTTP ceiling": "http",
                "footprint": "footprint", "Kafka": "kafka", "growth": "growth", "view rebuild": "rebuild"}
TABLE_SECTIONS = {"e2e": ["end to end"], "propagation": ["propagation"], "http": ["gateway", "HTTP ceiling"],
                  "footprint": ["footprint"], "kafka": ["Kafka"], "growth": ["growth"], "rebuild": ["view rebuild"]}


def measure_engine(cinema, report, args, duration, concurrencies, bench_bin, events):
    """Every section against one engine; Kafka only when `bench_bin` is given (the broker is the
    same whatever the engine)."""
    log(f"broker on {cinema.brokers}, services on {cinema.ports}")
    cinema.start_broker()
    cinema.start_all()
    status, data = http("POST", cinema.url("gateway") + "/movies", {"desc": "Benchmark"})
    if status != 201:
        raise SystemExit(f"bench: POST /movies answered {status}: {data[:200]!r}")
    movie_id = created_id(data)
    status, data = http("POST", cinema.url("gateway") + "/reservations", {"movieId": movie_id})
    if status != 201:
        raise SystemExit(f"bench: the first POST /reservations answered {status}: {data[:200]!r}")
    rss_idle = {name: rss_mib(process.pid) for name, process in cinema.running.items()}
    dirty_idle = {name: private_dirty_mib(process.pid) for name, process in cinema.running.items()}
    measured = {}

    def end_to_end():
        measured["rss"] = section_end_to_end(cinema, report, duration, concurrencies, movie_id)

    def gateway_and_ceiling():
        nginx = section_http(cinema, report, duration, movie_id)
        report.add("footprint", "nginx (baseline): RSS after its load", rss_mib(nginx.process.pid), "MiB")

    sections = [
        ("end to end", end_to_end),
        ("propagation", lambda: section_propagation(cinema, report, 20 if args.smoke else 200, movie_id)),
        ("gateway and HTTP ceiling", gateway_and_ceiling),
        ("footprint", lambda: section_footprint(cinema, report, rss_idle, measured.get("rss", {}), dirty_idle)),
    ]
    if bench_bin:
        sections.append(("Kafka", lambda: section_kafka(cinema, report, bench_bin, events)))
    sections += growth_sections(cinema, report, args, duration, movie_id)
    sections = [(name, run) for name, run in sections if args.only is None or SECTION_KEYS[name] in args.only]
    # One section failing (a tool missing, a timeout) leaves the others' figures standing.
    for name, run in sections:
        log(name)
        try:
            run()
        except (SystemExit, subprocess.SubprocessError, OSError, ValueError, KeyError, IndexError, sqlite3.Error) as error:
            log(f"{name} FAILED: {error}")
            report.notes.append(f"Section {name} ({cinema.engine}) FAILED: {str(error)[:300]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI): checks every section produced numbers")
    parser.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    parser.add_argument("--only", type=lambda text: set(text.split(",")),
                        help="comma-separated sections (to measure one fix before and after): "
                             + ",".join(TABLE_SECTIONS))
    args = parser.parse_args()
    if args.only and args.only - set(TABLE_SECTIONS):
        parser.error(f"--only: unknown {sorted(args.only - set(TABLE_SECTIONS))}; known: {','.join(TABLE_SECTIONS)}")
    for tool in ["wrk", "nginx", "kcat", "psql"]:
        if not shutil.which(tool):
            raise SystemExit(f"bench: {tool} is missing (make setup installs it)")
    duration = int(os.environ.get("BENCH_DURATION", 3 if args.smoke else 10))
    events = int(os.environ.get("BENCH_KAFKA_EVENTS", 20_000 if args.smoke else 1_000_000))
    concurrencies = [1, 8, 32] if args.smoke else [1, 8, 32, 64]
    bin_dir = release_binaries()
    bench_bin = bench_binary(bin_dir)
    info = machine()
    shutil.rmtree(RUN, ignore_errors=True)
    for sub in ["logs", "data"]:
        os.makedirs(os.path.join(RUN, sub))
    processes = Processes()
    report = Report()
    engines = os.environ.get("BENCH_ENGINES", "sqlite postgres").split()
    postgres = Postgres() if "postgres" in engines else None
    try:
        for engine in engines:
            report.engine = engine
            log(f"=== {engine}")
            if engine == "postgres":
                postgres.start()
            measure_engine(Cinema(processes, bin_dir, engine, postgres and postgres.port), report, args, duration,
                           concurrencies, bench_bin if engine == engines[0] else None, events)
            processes.stop_all()
    finally:
        processes.stop_all()
        if postgres:
            postgres.stop()
    print(report.table())
    settings = (f"{'smoke' if args.smoke else 'full'}: {duration} s per load run, concurrency {concurrencies}, "
                f"{events:,} Kafka events, engines {' '.join(engines)}"
                f"{'' if args.only is None else ', only ' + ','.join(sorted(args.only))}")
    write_markdown(args.out, info, report, args.smoke, settings)
    log(f"wrote {os.path.relpath(args.out, ROOT)}")
    empty = [row["figure"] for row in report.rows if row["value"] is None]
    sections = {row["section"].split(" (")[0] for row in report.rows}
    expected = {table for key, tables in TABLE_SECTIONS.items() if args.only is None or key in args.only
                for table in tables}
    if args.smoke and (empty or expected - sections):
        raise SystemExit(f"bench: smoke: no numbers for {sorted(expected - sections)} {empty}")


if __name__ == "__main__":
    main()
