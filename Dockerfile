# syntax=docker/dockerfile:1
# The one `loglens` binary, every role: `docker run loglens:local <role> ...`.
# Built by docker-compose.yml for each loglens service. Needs BuildKit (the
# default builder since Docker 23) for the cache mounts.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
# rdkafka builds its bundled librdkafka with librdkafka's own configure
# script and make (no `cmake-build` feature), zstd-sys with cc, and links
# zlib; protoc comes from the protoc-bin-vendored crate. The rust image has
# all of it already; listed so a slimmer base fails loudly here.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential perl pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p loglens \
 && install -m 0755 target/release/loglens /usr/local/bin/loglens

FROM debian:bookworm-slim AS runtime
# curl is for the compose healthchecks (gateway /health, metrics /metrics).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/loglens loglens
COPY --from=build /usr/local/bin/loglens /usr/local/bin/loglens
USER loglens
WORKDIR /var/lib/loglens
ENV LOGLENS_DATA_DIR=/var/lib/loglens/data
# 8000 REST, 50051 gRPC (query/standalone), 50052 gRPC (ingest), 9464 metrics
EXPOSE 8000 50051 50052 9464
ENTRYPOINT ["/usr/local/bin/loglens"]
CMD ["standalone", "--grpc-addr", "0.0.0.0:50051", "--http-addr", "0.0.0.0:8000"]
