#!/usr/bin/env bash
# Builds the six Cinema executables for shipping and collects them into one folder:
#
#   scripts/build-release.sh [OUT_DIR]      (default .build/dist)
#
# OUT_DIR/bin/<name>            the executables (movie payment reservation message viewpage gateway)
# OUT_DIR/bin/*.resources       their SwiftPM resource bundles (viewpage's dashboard page)
# OUT_DIR/runtime-packages      the Debian/Ubuntu packages their shared libraries come from
# OUT_DIR/swift-backtrace-static  the toolchain's crash backtracer, for SWIFT_BACKTRACE
#
# The Dockerfile's build stage runs this script, and so does CI (`make image-build-check`), so
# the image is built exactly the way CI checks it. The Swift runtime and Foundation are linked in
# (--static-swift-stdlib): the runtime image then needs no Swift toolchain libraries, only what
# this script finds the binaries asking for, and it fails when they ask for a library it cannot
# name a package for (a new dependency must reach the Dockerfile's apt-get line, not a crash at
# start-up in the cluster).
# Environment: SWIFT_BUILD_FLAGS (extra flags for swift build), SWIFT (swift).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/.build/dist}"
SWIFT="${SWIFT:-swift}"
EXECUTABLES=(movie payment reservation message viewpage gateway)

# Shared libraries a binary may need at run time, and the package that provides each on Debian
# 12 (CI) and Ubuntu 24.04 (the runtime image): the names are the same on both.
declare -A PACKAGE_OF=(
    [librdkafka.so.1]=librdkafka1
    [libc.so.6]=libc6
    [libm.so.6]=libc6
    [libdl.so.2]=libc6
    [libpthread.so.0]=libc6
    [librt.so.1]=libc6
    [ld-linux-x86-64.so.2]=libc6
    [ld-linux-aarch64.so.1]=libc6
    [libstdc++.so.6]=libstdc++6
    [libgcc_s.so.1]=libgcc-s1
    [libz.so.1]=zlib1g
    [libsqlite3.so.0]=libsqlite3-0
)

log() { printf 'build-release: %s\n' "$*"; }
die() { printf 'build-release: ERROR: %s\n' "$*" >&2; exit 1; }

cd "$ROOT"
# shellcheck disable=SC2086 # SWIFT_BUILD_FLAGS is a list of flags
"$SWIFT" build -c release --static-swift-stdlib ${SWIFT_BUILD_FLAGS:-}
BIN_PATH="$("$SWIFT" build -c release --static-swift-stdlib --show-bin-path)"

rm -rf "$OUT"
mkdir -p "$OUT/bin"
for name in "${EXECUTABLES[@]}"; do
    [[ -x "$BIN_PATH/$name" ]] || die "no executable $BIN_PATH/$name after the build"
    # Without the DWARF (about 40 of each binary's 140 MB) but with the symbol table, so that the
    # backtracer below still names the functions of a crash.
    strip --strip-debug -o "$OUT/bin/$name" "$BIN_PATH/$name"
    chmod 0755 "$OUT/bin/$name"
done
# SwiftPM resource bundles (the dashboard's page: cinema_ViewpageService.resources) go beside the
# binaries, where the services look for them (never through Bundle.module, which would stop a
# process whose bundle is missing); the image copies OUT_DIR/bin whole.
for bundle in "$BIN_PATH"/*.resources; do
    [[ -d "$bundle" ]] && cp -R "$bundle" "$OUT/bin/"
done
[[ -f "$OUT/bin/cinema_ViewpageService.resources/Dashboard/index.html" ]] ||
    die "no dashboard page in $OUT/bin/cinema_ViewpageService.resources after the build"
# A crash then logs a symbolicated backtrace of every thread instead of a bare signal: the
# runtime runs this helper (statically linked, 10 MB) when SWIFT_BACKTRACE names it.
BACKTRACER="$(dirname "$(readlink -f "$(command -v "$SWIFT")")")/../libexec/swift/linux/swift-backtrace-static"
[[ -x "$BACKTRACER" ]] || die "no $BACKTRACER in this toolchain"
install -m 0755 "$BACKTRACER" "$OUT/swift-backtrace-static"

# What the dynamic linker will have to find in the runtime image.
declare -A packages=()
unknown=()
for name in "${EXECUTABLES[@]}"; do
    while read -r lib; do
        case "$lib" in
        libswift* | libFoundation* | lib_Foundation* | libdispatch* | libBlocksRuntime*)
            die "$name needs $lib: the Swift runtime was not linked statically" ;;
        esac
        if [[ -n "${PACKAGE_OF[$lib]:-}" ]]; then
            packages[${PACKAGE_OF[$lib]}]=1
        else
            unknown+=("$name: $lib")
        fi
    done < <(readelf -d "$OUT/bin/$name" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
done
((${#unknown[@]} == 0)) || die "libraries without a known package (add them to PACKAGE_OF and the Dockerfile): ${unknown[*]}"
printf '%s\n' "${!packages[@]}" | sort >"$OUT/runtime-packages"

log "$(du -sh "$OUT/bin" | cut -f1) in ${OUT#"$ROOT"/}/bin: ${EXECUTABLES[*]}"
log "runtime packages: $(tr '\n' ' ' <"$OUT/runtime-packages")"
