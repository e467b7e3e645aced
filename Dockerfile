# Multi-stage build of the one `loglens` binary. Not built on the development
# machines (no Docker engine there); see README "Status".
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p loglens

FROM debian:bookworm-slim
RUN useradd --system --home /data loglens && mkdir -p /data && chown loglens /data
COPY --from=build /src/target/release/loglens /usr/local/bin/loglens
USER loglens
EXPOSE 8000 50051
ENTRYPOINT ["/usr/local/bin/loglens"]
CMD ["standalone", "--grpc-addr", "0.0.0.0:50051", "--http-addr", "0.0.0.0:8000", "--data-dir", "/data"]
