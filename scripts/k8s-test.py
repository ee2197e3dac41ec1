#!/usr/bin/env python3
"""Tests of the rendered Kubernetes manifests against the code (run by scripts/k8s-check.sh).

    scripts/k8s-test.py [--probes] RENDERED.yaml...

Static, on every rendered file:
  (a) every environment variable the manifests give a Cinema container is one the code reads
      (Sources/**/*.swift: literal names, `prefix` + literal compositions, the gateway's
      per-upstream `<PREFIX>_...` names, the KAFKA_*PROPERTY_ prefixes), or one on the
      allow-list PENDING below, or only there to compose another value via $(NAME);
  (b) the ConfigMap's routes are exactly the gateway's upstreams (GatewayConfiguration.swift),
      each pointing at the Service and port of the Deployment that runs that upstream, and
      PAYMENT_METHODS stays read-only;
  and what the deployment relies on: probe paths and ports, grace period = preStop +
  SHUTDOWN_TIMEOUT_SECONDS + margin, RollingUpdate with maxUnavailable 0, the restricted pod
  security settings, requests and limits, a Service and a PDB per Deployment, HPAs (autoscaling/v2
  with a behavior) for gateway and reservation, no literal database password; polyglot: at least
  two engines, PostgreSQL (DATABASE_URL) for every service with more than one pod, SQLite
  (DATABASE_PATH) only in a one-pod StatefulSet with the file on its volume claim.
With --probes, on the first file:
  (c) starts the broker (Tansu), a private PostgreSQL (scripts/postgres.sh) with the roles and
      databases that the postgres StatefulSet's init script (k8s/base/postgres-init) makes, run for
      real with the Secret's placeholders (then each role must reach the databases it owns and be
      refused the others), and the six processes as the manifests configure them (addresses made
      local, the rest as rendered: the URLs' user, database and sslmode, the ConfigMap), GETs every
      probe path until each answers 200, then stops them with SIGTERM and checks each exits within
      SHUTDOWN_TIMEOUT_SECONDS.
A self-test first makes sure (a), (b) and the grace-period check catch what they are for.
"""

import copy
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Names the manifests may set before the code that reads them is merged (work in parallel
# branches). A name here that the code reads is reported, so that its entry goes. The payment
# breaker's settings and DATABASE_URL were here until their branches were merged.
PENDING: dict[str, str] = {
    # Names the manifests may set before the code that reads them is merged (none now).
}

# The Deployments that must scale horizontally.
MUST_AUTOSCALE = {"gateway", "reservation"}
# preStop sleep + SHUTDOWN_TIMEOUT_SECONDS + this much margin, at least 1 s and at most 5 s.
GRACE_MARGIN = range(1, 6)


# --- what the code reads -------------------------------------------------------------------------

class CodeFacts:
    def __init__(self, sources=os.path.join(ROOT, "Sources")):
        files = [
            f for f in glob.glob(os.path.join(sources, "**", "*.swift"), recursive=True)
            if "/CinemaTesting/" not in f  # test support, not in any executable
        ]
        name = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*"
        self.exact, self.prefixes, self.open_prefixes, self.interpolated_suffixes = set(), set(), set(), set()
        for path in files:
            text = open(path).read()
            # Only files that deal with the environment: elsewhere upper-case literals are SQL
            # (COMMIT) or JSON ("UP").
            if not re.search(r"\benv(ironment)?\b|ProcessInfo|settings\[|EnvironmentSetting", text):
                continue
            # A name as a subscript key or a call's first argument: environment["HOST"],
            # value("HOST"), reader.integer("GATEWAY_MAX_QUEUED", ...), integer("WINDOW_SIZE", ...).
            self.exact |= set(re.findall(r'[\[(]\s*"(' + name + r')"', text))
            self.prefixes |= set(re.findall(r'"(' + name + r'_)"', text))
            self.open_prefixes |= set(re.findall(r'withPrefix:\s*"(' + name + r'_)"', text))
            self.interpolated_suffixes |= set(re.findall(r'"\\\([^)"]*\)(_' + name + r')"', text))
        gateway = open(os.path.join(sources, "Gateway", "GatewayConfiguration.swift")).read()
        block = gateway[gateway.index("cinemaUpstreams"):]
        block = block[: block.index("]\n")]
        # ("payment", "PAYMENT", "http://127.0.0.1:8081")
        self.upstreams = re.findall(r'\("(\w+)",\s*"(' + name + r')",\s*"(https?://[^"]+)"\)', block)
        package = open(os.path.join(os.path.dirname(sources), "Package.swift")).read()
        self.executables = set(re.findall(r'executable:\s*"(\w+)"', package)) | set(
            re.findall(r'\.executable\(name:\s*"(\w+)"', package)
        )

    def reads(self, variable):
        if variable in self.exact or any(variable.startswith(p) for p in self.open_prefixes):
            return True
        if any(variable == p + s for p in self.prefixes for s in self.exact):
            return True
        return any(variable == prefix + suffix for _, prefix, _ in self.upstreams for suffix in self.interpolated_suffixes)


# --- the rendered manifests ----------------------------------------------------------------------

def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def of_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def named(docs, kind, name):
    return next((d for d in of_kind(docs, kind) if d["metadata"]["name"] == name), None)


def pod_spec(doc):
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def is_cinema_image(image):
    return image.rsplit("/", 1)[-1].split(":")[0].split("@")[0] == "cinema"


def cinema_workloads(docs):
    """(workload, its Cinema container) for every Deployment or StatefulSet running the Cinema
    image: Deployments for the services that scale, a one-pod StatefulSet for one that keeps an
    embedded database on a volume of its own."""
    result = []
    for d in of_kind(docs, "Deployment") + of_kind(docs, "StatefulSet"):
        for c in pod_spec(d)["containers"]:
            if is_cinema_image(c["image"]):
                result.append((d, c))
    return result


def config_map_data(docs, container):
    data = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            config_map = named(docs, "ConfigMap", ref["name"])
            if config_map is None:
                raise AssertionError(f"{container['name']}: envFrom names ConfigMap {ref['name']}, which is not rendered")
            data.update(config_map.get("data", {}))
    return data


def env_entries(container):
    return {e["name"]: e for e in container.get("env", [])}


def composition_helpers(container):
    """Variables only there to be expanded into another one's value: $(NAME)."""
    values = " ".join(e.get("value", "") for e in container.get("env", []))
    return set(re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", values))


def executable_of(container):
    command = container.get("command") or container.get("args") or []
    return os.path.basename(command[0]) if command else None


def route_config_map(docs):
    gateway = next((c for d, c in cinema_workloads(docs) if executable_of(c) == "gateway"), None)
    if gateway is None:
        raise AssertionError("no Deployment runs the gateway executable")
    return config_map_data(docs, gateway)


# --- (a) environment ------------------------------------------------------------------------------

def check_environment(docs, code, notes):
    problems = []
    for deployment, container in cinema_workloads(docs):
        names = set(config_map_data(docs, container)) | set(env_entries(container))
        helpers = composition_helpers(container)
        for variable in sorted(names):
            if code.reads(variable):
                if variable in PENDING:
                    notes.add(f"{variable} is read by the code now: drop it from PENDING in scripts/k8s-test.py")
            elif variable in PENDING:
                notes.add(f"allowed before the code that reads them is merged: {variable}")
            elif variable not in helpers:
                problems.append(
                    f"(a) {deployment['metadata']['name']}: the manifests set {variable}, which no Cinema process reads"
                )
    return problems


# --- (b) routes -----------------------------------------------------------------------------------

def service_target(docs, url):
    """The Deployment, container and container port behind an in-cluster http URL."""
    match = re.fullmatch(r"http://([a-z0-9-]+)(?:\.[a-z0-9.-]+)?:(\d+)/?", url)
    if not match:
        return None, f"{url} is not http://<service>:<port>"
    service = named(docs, "Service", match.group(1))
    if service is None:
        return None, f"{url}: no Service {match.group(1)}"
    port = next((p for p in service["spec"]["ports"] if p["port"] == int(match.group(2))), None)
    if port is None:
        return None, f"{url}: Service {match.group(1)} has no port {match.group(2)}"
    selector = service["spec"]["selector"]
    for deployment, container in cinema_workloads(docs):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if all(labels.get(k) == v for k, v in selector.items()):
            target = port.get("targetPort", port["port"])
            for container_port in container.get("ports", []):
                if target in (container_port.get("name"), container_port["containerPort"]):
                    return (deployment, container, container_port["containerPort"]), None
            return None, f"{url}: Service port {port['port']} targets {target}, which {container['name']} does not expose"
    return None, f"{url}: Service {match.group(1)} selects no Cinema Deployment"


def check_routes(docs, code):
    problems = []
    data = route_config_map(docs)
    expected = {f"{prefix}_URL": name for name, prefix, _ in code.upstreams}
    if not expected:
        return ["(b) could not read the gateway's upstreams from GatewayConfiguration.swift"]
    routes = {k: v for k, v in data.items() if k.endswith("_URL")}
    for key in sorted(set(expected) - set(routes)):
        problems.append(f"(b) the ConfigMap has no {key}: the gateway would call 127.0.0.1 for {expected[key]}")
    for key in sorted(set(routes) - set(expected)):
        problems.append(f"(b) the ConfigMap sets {key}, which is not one of the gateway's upstreams")
    for key in sorted(set(expected) & set(routes)):
        target, problem = service_target(docs, routes[key])
        if problem:
            problems.append(f"(b) {key}: {problem}")
            continue
        deployment, container, container_port = target
        if executable_of(container) != expected[key]:
            problems.append(
                f"(b) {key}={routes[key]} reaches Deployment {deployment['metadata']['name']} running"
                f" {executable_of(container)}, not {expected[key]}"
            )
        port_env = env_entries(container).get("PORT", {}).get("value") or config_map_data(docs, container).get("PORT")
        if port_env is not None and int(port_env) != container_port:
            problems.append(f"(b) {key}: the container port is {container_port} but the process listens on PORT={port_env}")
    methods = data.get("PAYMENT_METHODS")
    if methods is not None:
        listed = {m.strip().upper() for m in re.split(r"[,\s]+", methods) if m.strip()}
        if not listed or not listed <= {"GET", "HEAD"}:
            problems.append(
                f"(b) PAYMENT_METHODS={methods}: the gateway must forward only GET and HEAD on /payments"
                " (the NetworkPolicy lets the gateway reach payment's port; this filter keeps writes out)"
            )
    return problems


# --- what the deployment relies on ---------------------------------------------------------------

def probe_paths(container):
    paths = {}
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        http = container.get(kind, {}).get("httpGet")
        if http:
            paths[kind] = http
    return paths


def pre_stop_seconds(container):
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    if len(command) == 2 and command[0] == "sleep":
        return int(command[1])
    sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep")
    return int(sleep["seconds"]) if sleep else None


def check_deployments(docs, code):
    problems = []
    services = of_kind(docs, "Service")
    budgets = of_kind(docs, "PodDisruptionBudget")
    autoscalers = of_kind(docs, "HorizontalPodAutoscaler")
    deployments = cinema_workloads(docs)
    running = {executable_of(c) for _, c in deployments}
    if running != code.executables:
        problems.append(f"the Deployments run {sorted(running)}, the package has {sorted(code.executables)}")
    for deployment, container in deployments:
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selects = lambda selector: all(labels.get(k) == v for k, v in selector.items())  # noqa: E731
        spec = pod_spec(deployment)
        settings = config_map_data(docs, container)
        settings.update({k: e.get("value") for k, e in env_entries(container).items()})
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}

        # Prometheus finds the pods by these; a wrong port scrapes nothing (or another process).
        scrape = deployment["spec"]["template"]["metadata"].get("annotations", {})
        if (scrape.get("prometheus.io/scrape") != "true" or scrape.get("prometheus.io/path") != "/metrics"
                or scrape.get("prometheus.io/port") != str(settings.get("PORT"))):
            problems.append(f"{name}: scrape annotations must be prometheus.io/scrape \"true\", path /metrics and "
                            f"port {settings.get('PORT')}, are {scrape}")

        paths = probe_paths(container)
        wanted = {"startupProbe": "/health", "readinessProbe": "/ready", "livenessProbe": "/health"}
        for kind, path in wanted.items():
            http = paths.get(kind)
            if not http or http.get("path") != path:
                problems.append(f"{name}: {kind} must GET {path}, has {http}")
            elif ports.get(http.get("port"), http.get("port")) != int(settings.get("PORT") or 0):
                problems.append(f"{name}: {kind} port {http.get('port')} is not the PORT the process listens on")

        shutdown = int(settings.get("SHUTDOWN_TIMEOUT_SECONDS") or 10)
        pre_stop = pre_stop_seconds(container)
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if pre_stop is None:
            problems.append(f"{name}: no preStop sleep (endpoints must drain before SIGTERM)")
        elif grace - (pre_stop + shutdown) not in GRACE_MARGIN:
            problems.append(
                f"{name}: terminationGracePeriodSeconds {grace} is not preStop {pre_stop} s +"
                f" SHUTDOWN_TIMEOUT_SECONDS {shutdown} s + 1 to 5 s"
            )

        if deployment["kind"] == "Deployment":
            strategy = deployment["spec"].get("strategy", {})
            if strategy.get("type") != "RollingUpdate" or strategy.get("rollingUpdate", {}).get("maxUnavailable") != 0:
                problems.append(f"{name}: strategy must be RollingUpdate with maxUnavailable 0")
        elif deployment["spec"].get("updateStrategy", {}).get("type", "RollingUpdate") != "RollingUpdate":
            problems.append(f"{name}: a StatefulSet's updateStrategy must be RollingUpdate")
        security = container.get("securityContext", {})
        if security.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: the root filesystem must be read-only")
        resources = container.get("resources", {})
        if not resources.get("requests") or not resources.get("limits", {}).get("memory"):
            problems.append(f"{name}: requests and a memory limit are required")
        if not any(selects(s["spec"].get("selector", {})) and s["spec"].get("selector") for s in services):
            problems.append(f"{name}: no Service selects it")
        if not any(selects(b["spec"]["selector"].get("matchLabels", {})) for b in budgets):
            problems.append(f"{name}: no PodDisruptionBudget covers it")
        scaler = next((h for h in autoscalers if h["spec"]["scaleTargetRef"]["name"] == name), None)
        if scaler is not None:
            if scaler["apiVersion"] != "autoscaling/v2" or "behavior" not in scaler["spec"]:
                problems.append(f"{name}: its HPA must be autoscaling/v2 with a behavior")
            if "replicas" in deployment["spec"]:
                problems.append(f"{name}: has an HPA, so `replicas` must not be set (an apply would reset the count)")
        elif name in MUST_AUTOSCALE:
            problems.append(f"{name}: must have a HorizontalPodAutoscaler")

        url = env_entries(container).get("DATABASE_URL", {}).get("value") or settings.get("DATABASE_URL")
        if url:
            password = re.match(r"[a-z]+://[^:/@]*:([^@]*)@", url)
            if not password or not re.fullmatch(r"\$\([A-Za-z_][A-Za-z0-9_]*\)", password.group(1)):
                problems.append(f"{name}: DATABASE_URL must take its password from the Secret, as $(NAME)")
            else:
                helper = env_entries(container).get(password.group(1)[2:-1], {})
                if "secretKeyRef" not in helper.get("valueFrom", {}):
                    problems.append(f"{name}: {password.group(1)} in DATABASE_URL does not come from a Secret")
    return problems


def replica_count(docs, workload):
    """How many pods a workload may run: its HPA's maximum, else its replicas (1 when unset)."""
    name = workload["metadata"]["name"]
    scaler = next((h for h in of_kind(docs, "HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name), None)
    return scaler["spec"]["maxReplicas"] if scaler else workload["spec"].get("replicas", 1)


def check_engines(docs):
    """Polyglot, and each engine where it fits: SQLite is one process's file, so a service on it
    runs one pod, as a StatefulSet whose volume claim holds the file; PostgreSQL wherever pods
    share state. At least two engines in the cluster."""
    problems, engines = [], set()
    for workload, container in cinema_workloads(docs):
        name = workload["metadata"]["name"]
        if executable_of(container) == "gateway":
            continue
        settings = config_map_data(docs, container)
        settings.update({k: e.get("value") for k, e in env_entries(container).items()})
        if settings.get("DATABASE_URL"):
            engines.add("postgresql")
            continue
        engines.add("sqlite")
        path = settings.get("DATABASE_PATH")
        if workload["kind"] != "StatefulSet" or replica_count(docs, workload) != 1:
            problems.append(f"{name}: on SQLite (no DATABASE_URL) it must be a StatefulSet of exactly one pod")
        claims = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
        mounts = [m for m in container.get("volumeMounts", []) if m["name"] in claims]
        if not path or not any(path.startswith(m["mountPath"].rstrip("/") + "/") for m in mounts):
            problems.append(f"{name}: on SQLite its DATABASE_PATH ({path}) must be on its volume claim")
    if len(engines) < 2:
        problems.append(f"polyglot: the services use {sorted(engines)}; the cluster needs at least two engines")
    return problems


def check_pods(docs):
    """The restricted Pod Security Standard (namespace.yaml enforces it) for every pod."""
    problems = []
    for doc in docs:
        if doc.get("kind") not in ("Deployment", "StatefulSet", "Job", "CronJob", "DaemonSet"):
            continue
        spec = pod_spec(doc)
        pod = spec.get("securityContext", {})
        label = f"{doc['kind']} {doc['metadata']['name']}"
        if doc["metadata"].get("namespace") != "cinema":
            problems.append(f"{label}: not in namespace cinema")
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            security = container.get("securityContext", {})
            if not (security.get("runAsNonRoot", pod.get("runAsNonRoot")) is True):
                problems.append(f"{label}/{container['name']}: runAsNonRoot is not true")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{label}/{container['name']}: allowPrivilegeEscalation is not false")
            if security.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{label}/{container['name']}: capabilities are not drop [ALL]")
            seccomp = security.get("seccompProfile", pod.get("seccompProfile", {})).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append(f"{label}/{container['name']}: no RuntimeDefault seccomp profile")
    return problems


def check_secrets(docs, path):
    problems = []
    for secret in of_kind(docs, "Secret"):
        placeholder = secret["metadata"].get("annotations", {}).get("cinema.example/placeholder") == "true"
        values = list(secret.get("stringData", {}).values()) + list(secret.get("data", {}).values())
        if not placeholder:
            problems.append(f"{path}: Secret {secret['metadata']['name']} is not marked as a placeholder")
        elif any("PASSWORD" in k and "CHANGE-ME" not in v for k, v in secret.get("stringData", {}).items()):
            problems.append(f"{path}: Secret {secret['metadata']['name']} holds a password that is not a CHANGE-ME placeholder")
        if secret.get("data") or not values:
            problems.append(f"{path}: Secret {secret['metadata']['name']}: placeholders belong in stringData, readable")
    if "production" in path and of_kind(docs, "Secret"):
        problems.append(f"{path}: the production overlay must not carry a Secret (it is made apart)")
    return problems


def check_all(docs, code, notes, path=""):
    return (
        check_environment(docs, code, notes)
        + check_routes(docs, code)
        + check_deployments(docs, code)
        + check_engines(docs)
        + check_pods(docs)
        + check_secrets(docs, path)
    )


def self_test(docs, code):
    """The checks must fail on what they are for; otherwise passing them means nothing."""
    failures = []

    def mutated(change):
        copied = copy.deepcopy(docs)
        change(copied)
        return copied

    def gateway_container(d):
        return next(c for _, c in cinema_workloads(d) if executable_of(c) == "gateway")

    def config(d):
        name = gateway_container(d)["envFrom"][0]["configMapRef"]["name"]
        return named(d, "ConfigMap", name)["data"]

    cases = [
        ("an unread variable", "(a)", lambda d: gateway_container(d).setdefault("env", []).append(
            {"name": "GATEWAY_MAX_CONCURENT", "value": "1"})),
        ("a route to no Service", "(b)", lambda d: config(d).update({"MOVIE_URL": "http://movies:8082"})),
        ("a route to the wrong Service", "(b)", lambda d: config(d).update({"MOVIE_URL": "http://message:8084"})),
        ("a missing route", "(b)", lambda d: config(d).pop("VIEWPAGE_URL")),
        ("payment writes opened", "(b)", lambda d: config(d).update({"PAYMENT_METHODS": "*"})),
        ("a scrape annotation on the wrong port", "scrape annotations", lambda d: cinema_workloads(d)[0][0]["spec"][
            "template"]["metadata"]["annotations"].update({"prometheus.io/port": "1"})),
        ("a short grace period", "terminationGracePeriodSeconds", lambda d: pod_spec(
            cinema_workloads(d)[0][0]).update({"terminationGracePeriodSeconds": 10})),
        ("SQLite in two pods", "StatefulSet of exactly one pod", lambda d: named(d, "StatefulSet", "message")["spec"].update(
            {"replicas": 2})),
        ("SQLite off its volume", "must be on its volume claim", lambda d: env_entries(next(
            c for _, c in cinema_workloads(d) if executable_of(c) == "message"))["DATABASE_PATH"].update(
            {"value": "/tmp/message.sqlite"})),
    ]
    for label, expected, change in cases:
        problems = check_all(mutated(change), code, set())
        if not any(expected in p for p in problems):
            failures.append(f"self-test: {label} went unnoticed")
    return failures


# --- (c) the probe paths on running processes ------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def resolved_env(docs, container, pod_name):
    """The environment Kubernetes would give the container (ConfigMap, values, Secret keys,
    the pod's name), with $(NAME) expanded as the kubelet does."""
    env = dict(config_map_data(docs, container))
    for entry in container.get("env", []):
        if "value" in entry:
            value = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), entry["value"])
        else:
            source = entry["valueFrom"]
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                secret = named(docs, "Secret", ref["name"]) or {}
                value = secret.get("stringData", {}).get(ref["key"], "")
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                value = named(docs, "ConfigMap", ref["name"])["data"][ref["key"]]
            elif source.get("fieldRef", {}).get("fieldPath") == "metadata.name":
                value = pod_name
            else:
                value = ""
        env[entry["name"]] = value
    return env


def psql(port, user, database, sql):
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", database, "-XtAc", sql],
        capture_output=True, text=True, timeout=30, env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
    )


def initialise_postgres(docs, environments, port):
    """Runs the postgres StatefulSet's init scripts (its ConfigMap postgres-init) as the image
    would on a first start, with that container's environment (the Secret's placeholders), then
    checks what the services rely on: every DATABASE_URL names a database its user owns, and each
    login role is refused every database it does not own (payment's money apart from the rest)."""
    statefulset = named(docs, "StatefulSet", "postgres")
    if statefulset is None:
        return ["(c) no StatefulSet postgres, while services use DATABASE_URL"]
    container = pod_spec(statefulset)["containers"][0]
    env = resolved_env(docs, container, "postgres-0")
    volumes = {v["name"]: v for v in pod_spec(statefulset).get("volumes", [])}
    scripts = []
    for mount in container.get("volumeMounts", []):
        config_map = volumes.get(mount["name"], {}).get("configMap")
        if mount["mountPath"].rstrip("/") == "/docker-entrypoint-initdb.d" and config_map:
            data = named(docs, "ConfigMap", config_map["name"])["data"]
            scripts += [data[name] for name in sorted(data) if name.endswith(".sh")]
    if not scripts:
        return ["(c) the postgres StatefulSet mounts no init script on /docker-entrypoint-initdb.d"]
    for script in scripts:
        result = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, timeout=60,
            env={**os.environ, **env, "POSTGRES_USER": env.get("POSTGRES_USER", "postgres"),
                 "PGHOST": "127.0.0.1", "PGPORT": str(port)},
        )
        if result.returncode != 0:
            return [f"(c) the postgres init script failed: {(result.stderr or result.stdout).strip()}"]
    listed = psql(port, "postgres", "postgres",
                  "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'")
    owners = dict(line.split("|", 1) for line in listed.stdout.split())
    problems = []
    for executable, service_env in sorted(environments.items()):
        url = service_env.get("DATABASE_URL")
        if not url:
            continue
        parts = urllib.parse.urlsplit(url)
        database = parts.path.lstrip("/")
        if owners.get(database) != parts.username:
            problems.append(f"(c) {executable}: its DATABASE_URL user {parts.username} does not own database {database}"
                            f" (owner {owners.get(database)})")
    roles = sorted(set(owners.values()))
    for role in roles:
        for database, owner in sorted(owners.items()):
            reached = psql(port, role, database, "SELECT 1").returncode == 0
            if reached != (role == owner):
                problems.append(f"(c) role {role} {'reaches' if reached else 'is refused'} database {database}"
                                f" (owner {owner})")
    if not problems:
        print(f"k8s-test: (c) postgres-init: databases {', '.join(f'{d} ({o})' for d, o in sorted(owners.items()))};"
              f" each of {len(roles)} roles refused every database it does not own")
    return problems


def run_probes(docs, code):
    bin_dir = os.environ.get("CINEMA_BIN_DIR") or os.path.join(ROOT, ".build", "debug")
    tools = os.path.join(ROOT, ".tools")
    tansu = os.environ.get("TANSU_BIN") or os.path.join(tools, "bin", "tansu")
    for executable in code.executables:
        if not os.access(os.path.join(bin_dir, executable), os.X_OK):
            return [f"(c) no executable {bin_dir}/{executable} (swift build, or CINEMA_BIN_DIR)"]
    deployments = cinema_workloads(docs)
    ports = {executable_of(c): free_port() for _, c in deployments}
    broker_port = free_port()
    broker = f"127.0.0.1:{broker_port}"
    work = tempfile.mkdtemp(prefix="k8s-check-")
    # PostgreSQL refuses to run as root; scripts/postgres.sh then runs it as nobody, which must be
    # able to reach its folder in here.
    os.chmod(work, 0o711)
    processes, problems = {}, []
    postgres = None
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DATABASE_", "GATEWAY_"))}
    base_env["LD_LIBRARY_PATH"] = os.path.join(tools, "lib") + (":" + os.environ["LD_LIBRARY_PATH"] if os.environ.get("LD_LIBRARY_PATH") else "")
    try:
        log = open(os.path.join(work, "broker.log"), "w")
        broker_env = {k: v for k, v in base_env.items() if k not in ("SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")}
        processes["broker"] = subprocess.Popen(
            [tansu, "broker", "--listener-url", f"tcp://{broker}", "--advertised-listener-url", f"tcp://{broker}",
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, env=broker_env, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", broker_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or processes["broker"].poll() is not None:
                    problems.append(f"(c) the broker did not start (log {work}/broker.log)")
                    return problems
                time.sleep(0.2)
        settings = route_config_map(docs)
        for topic in (settings.get("KAFKA_TOPIC", "cinema"), settings.get("KAFKA_DLT_TOPIC", "cinema.DLT")):
            subprocess.run(
                [tansu, "topic", "create", topic, "--partitions", "3", "--broker", f"tcp://{broker}"],
                check=True, capture_output=True, timeout=30, env=broker_env,
            )

        routes = {f"{prefix}_URL": f"http://127.0.0.1:{ports[name]}" for name, prefix, _ in code.upstreams}
        environments = {
            executable_of(c): resolved_env(docs, c, f"{d['metadata']['name']}-k8s-check") for d, c in deployments
        }
        databases = sorted({
            urllib.parse.urlsplit(env["DATABASE_URL"]).path.lstrip("/") for env in environments.values() if env.get("DATABASE_URL")
        })
        if databases:
            # The superuser is `postgres`, as in the postgres image, so that the init script's
            # roles (the Secret's user names) are new to the server.
            postgres = {**os.environ, "PG_DIR": os.path.join(work, "postgres"), "PG_PORT": str(free_port()), "PG_USER": "postgres"}
            result = subprocess.run(
                ["bash", os.path.join(ROOT, "scripts", "postgres.sh"), "start"],
                env=postgres, capture_output=True, text=True, timeout=120,
            )
            if result.returncode != 0:
                problems.append(f"(c) scripts/postgres.sh start failed: {(result.stderr or result.stdout).strip()}")
                return problems
            problems += initialise_postgres(docs, environments, postgres["PG_PORT"])
            if problems:
                return problems
            print(f"k8s-test: (c) PostgreSQL on 127.0.0.1:{postgres['PG_PORT']} with databases {', '.join(databases)}")
        for deployment, container in deployments:
            executable = executable_of(container)
            env = environments[executable]
            local = {"HOST": "127.0.0.1", "PORT": str(ports[executable]), "KAFKA_BROKERS": broker}
            local.update({k: v for k, v in routes.items() if k in env})
            if "DATABASE_PATH" in env:
                local["DATABASE_PATH"] = os.path.join(work, os.path.basename(env["DATABASE_PATH"]))
            if env.get("DATABASE_URL"):
                # The rendered URL with the private server's address: its user, password (the
                # placeholder; the server trusts loopback), database and query stay.
                url = urllib.parse.urlsplit(env["DATABASE_URL"])
                userinfo = url.netloc.rpartition("@")[0]
                netloc = f"{userinfo}@127.0.0.1:{postgres['PG_PORT']}"
                local["DATABASE_URL"] = urllib.parse.urlunsplit(url._replace(netloc=netloc))
            env.update(local)
            log = open(os.path.join(work, f"{executable}.log"), "w")
            processes[executable] = subprocess.Popen(
                [os.path.join(bin_dir, executable)], cwd=work, stdout=log, stderr=subprocess.STDOUT,
                env={**base_env, **env}, start_new_session=True,
            )

        pending = {
            (executable_of(c), http["path"]) for _, c in deployments for http in probe_paths(c).values()
        }
        deadline = time.monotonic() + float(os.environ.get("K8S_CHECK_READY_TIMEOUT", "90"))
        started = time.monotonic()
        last = {}
        while pending and time.monotonic() < deadline:
            for executable, path in sorted(pending):
                if processes[executable].poll() is not None:
                    problems.append(f"(c) {executable} exited ({processes[executable].returncode}); log {work}/{executable}.log")
                    pending = {p for p in pending if p[0] != executable}
                    continue
                last[(executable, path)] = http_status(f"http://127.0.0.1:{ports[executable]}{path}")
                if last[(executable, path)] == 200:
                    print(f"k8s-test: (c) {executable:<12} GET {path:<8} 200 after {time.monotonic() - started:4.1f} s")
                    pending.discard((executable, path))
            time.sleep(0.3)
        for executable, path in sorted(pending):
            problems.append(f"(c) {executable}: GET {path} never answered 200 (last {last.get((executable, path))}); log {work}/{executable}.log")

        shutdown = int(settings.get("SHUTDOWN_TIMEOUT_SECONDS", "10"))
        services = [p for name, p in processes.items() if name != "broker"]
        for process in services:
            process.send_signal(signal.SIGTERM)
        stop_started = time.monotonic()
        for name, process in processes.items():
            if name == "broker":
                continue
            try:
                process.wait(timeout=max(0.1, shutdown + 1 - (time.monotonic() - stop_started)))
            except subprocess.TimeoutExpired:
                problems.append(f"(c) {name} still runs {shutdown} s after SIGTERM (SHUTDOWN_TIMEOUT_SECONDS)")
        if not problems:
            print(f"k8s-test: (c) all six stopped within {time.monotonic() - stop_started:.1f} s of SIGTERM"
                  f" (SHUTDOWN_TIMEOUT_SECONDS={shutdown})")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        if postgres:
            subprocess.run(["bash", os.path.join(ROOT, "scripts", "postgres.sh"), "stop"], env=postgres,
                           capture_output=True, timeout=60)
        if problems or os.environ.get("K8S_CHECK_KEEP"):
            print(f"k8s-test: (c) logs and databases kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return problems


def main(arguments):
    probes = "--probes" in arguments
    paths = [a for a in arguments if a != "--probes"]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    code = CodeFacts()
    problems, notes = [], set()
    for path in paths:
        docs = load(path)
        found = check_all(docs, code, notes, path)
        tested = ""
        if not found:
            found = self_test(docs, code)
            tested = ", self-test passed" if not found else ""
        problems += [f"{os.path.basename(path)}: {p}" for p in found]
        print(f"k8s-test: {os.path.basename(path)}: {len(docs)} objects, {len(found)} problems{tested}")
    pending = sorted(n.rsplit(": ", 1)[1] for n in notes if n.startswith("allowed before"))
    if pending:
        print(f"k8s-test: note: allowed before the code that reads them is merged: {', '.join(pending)}")
    for note in sorted(n for n in notes if not n.startswith("allowed before")):
        print(f"k8s-test: note: {note}")
    if probes and not problems:
        problems += run_probes(load(paths[0]), code)
    for problem in problems:
        print(f"k8s-test: FAIL {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
