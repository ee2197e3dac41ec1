# syntax=docker/dockerfile:1
# One image for all six Cinema processes; the command chooses the process:
#
#   docker build -t cinema .
#   docker run --rm -p 8088:8088 -e KAFKA_BROKERS=broker:9092 cinema gateway
#   docker run --rm -e KAFKA_BROKERS=broker:9092 cinema payment
#
# Executables (on PATH, in /opt/cinema/bin): movie payment reservation message viewpage gateway.
# Without a command the image runs the gateway. Configuration is the environment (README,
# "Configuration"); HOST is preset to 0.0.0.0 so that a container answers on its own address.

# The Swift toolchain the package is built and tested with (swift-tools-version 6.2 or later).
ARG SWIFT_IMAGE=swift:6.3-noble
ARG RUNTIME_IMAGE=ubuntu:24.04

FROM ${SWIFT_IMAGE} AS build
# librdkafka-dev: the CRdKafka module compiles against its headers (found with pkg-config).
# binutils: readelf, with which the build script lists the libraries the binaries need.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        librdkafka-dev pkg-config binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The manifest first: dependency resolution is cached until Package.swift changes. Package.resolved
# is not committed (see .gitignore); when the build context has one, its versions are used.
COPY Package.swift Package.resolved* ./
RUN swift package resolve
COPY CRdKafka ./CRdKafka
COPY Sources ./Sources
# SwiftPM checks that every declared target has its folder, test targets included.
COPY Tests ./Tests
COPY scripts/build-release.sh ./scripts/
# The .build cache mount keeps compiled modules between image builds on the same builder; the
# result is copied out of it to /dist, which the next stage takes.
RUN --mount=type=cache,target=/src/.build,id=cinema-swift-build \
    scripts/build-release.sh /dist

FROM ${RUNTIME_IMAGE}
# What the statically linked binaries still load (scripts/build-release.sh lists it in
# /dist/runtime-packages and `make image-build-check` compares it with this line):
# librdkafka1 is 2.3.0 on Ubuntu 24.04, fine against Apache Kafka (Debian 12's 2.0.2 is not used
# here). ca-certificates for TLS to brokers or databases, tzdata so that TZ can set the local time
# the events' timestamps are written in (UTC without it).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        librdkafka1 libc6 libstdc++6 libgcc-s1 zlib1g ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/*
# A numeric, non-root user: Kubernetes can verify runAsNonRoot only for a numeric USER.
RUN groupadd --system --gid 10001 cinema \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/cinema --create-home \
        --shell /usr/sbin/nologin cinema
COPY --from=build /dist/bin/ /opt/cinema/bin/
COPY --from=build /dist/runtime-packages /opt/cinema/runtime-packages
COPY --from=build /dist/swift-backtrace-static /opt/cinema/libexec/swift-backtrace-static
# A crashing process logs a symbolicated backtrace of its threads (the binaries keep their symbol
# table for it), not just the signal; not interactive, since nobody is attached to a pod.
ENV PATH=/opt/cinema/bin:$PATH \
    HOST=0.0.0.0 \
    SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=all,interactive=no,swift-backtrace=/opt/cinema/libexec/swift-backtrace-static
# A service without DATABASE_PATH or DATABASE_URL keeps its SQLite file under data/ here; in the
# cluster the root filesystem is read-only and the manifests say where state goes.
WORKDIR /var/lib/cinema
USER 10001:10001
# payment movie reservation message viewpage, gateway
EXPOSE 8081 8082 8083 8084 8085 8088
CMD ["gateway"]
