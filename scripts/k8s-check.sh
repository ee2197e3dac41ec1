#!/usr/bin/env bash
# `make k8s-check`: the Kubernetes manifests, checked without a cluster.
#   1. render every kustomization (k8s/base, k8s/overlays/*) with kubectl's kustomize
#   2. kubernetes-validate --strict: the rendered objects against the API schemas of
#      Kubernetes $K8S_VERSION (unknown or misspelt fields fail)
#   3. yamllint (settings in .yamllint) on the YAML we write: k8s/, buildspec.yml
#   4. scripts/k8s-test.py: the manifests against the code (environment variables, routes,
#      probes, shutdown timing, security), then the probe paths on the six processes started as
#      the manifests configure them, with a Tansu broker and a PostgreSQL server of their own on
#      free ports
# The rendered files stay in .run/k8s/ for a look.
# Environment: K8S_VENV (.tools/k8s-venv), K8S_VERSION (1.32.0), CINEMA_BIN_DIR (.build/debug;
#   built when missing), K8S_CHECK_KEEP=1 keeps the processes' logs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${K8S_VENV:-$ROOT/.tools/k8s-venv}"
# The kubectl on the team's machines is 1.32, and so is the oldest cluster we aim at.
K8S_VERSION="${K8S_VERSION:-1.32.0}"
PINS=(kubernetes-validate==1.37.0 yamllint==1.38.0)
OUT="$ROOT/.run/k8s"

log() { printf 'k8s-check: %s\n' "$*"; }
die() { printf 'k8s-check: ERROR: %s\n' "$*" >&2; exit 1; }
started=$SECONDS

command -v kubectl >/dev/null || die "kubectl (with kustomize) is needed: see .ci/run"
# Tansu, the librdkafka it needs and PostgreSQL, for step 4 (idempotent, quick when present).
bash scripts/setup.sh >/dev/null

# A venv of its own: Debian's Python refuses pip installs outside one.
if ! "$VENV/bin/python" -m pip freeze 2>/dev/null | grep -qx "${PINS[0]}" ||
    ! "$VENV/bin/python" -m pip freeze 2>/dev/null | grep -qx "${PINS[1]}"; then
    log "installing ${PINS[*]} into ${VENV#"$ROOT"/}"
    [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
fi

mkdir -p "$OUT"
rendered=()
for dir in k8s/base k8s/overlays/*/; do
    dir="${dir%/}"
    name="$(basename "$dir")"
    kubectl kustomize "$dir" >"$OUT/$name.yaml" || die "kubectl kustomize $dir failed"
    rendered+=("$OUT/$name.yaml")
    log "rendered $dir: $(grep -c '^kind:' "$OUT/$name.yaml") objects -> ${OUT#"$ROOT"/}/$name.yaml"
done

"$VENV/bin/kubernetes-validate" --strict --kubernetes-version "$K8S_VERSION" --quiet "${rendered[@]}" ||
    die "kubernetes-validate found objects that do not match Kubernetes $K8S_VERSION"
log "kubernetes-validate --strict against $K8S_VERSION: OK"

"$VENV/bin/yamllint" --strict .yamllint buildspec.yml k8s || die "yamllint"
log "yamllint: OK"

if [[ -z "${CINEMA_BIN_DIR:-}" ]]; then
    export CINEMA_BIN_DIR="$ROOT/.build/debug"
    for name in movie payment reservation message viewpage gateway; do
        if [[ ! -x "$CINEMA_BIN_DIR/$name" ]]; then
            log "building the executables (swift build)"
            swift build
            break
        fi
    done
fi
"$VENV/bin/python" scripts/k8s-test.py --probes "${rendered[@]}"
log "OK in $((SECONDS - started)) s"
