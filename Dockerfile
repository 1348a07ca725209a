# Release image for the `ferrobot` binary.
# Build:  docker build -t ferrobot .      Run: docker run ferrobot serve

FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace is needed: crates embed files from schema/ and migrations/.
COPY . .
RUN cargo build --release --locked -p ferrobot

FROM debian:bookworm-slim
# ca-certificates: outgoing TLS (rustls) needs a root store.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/ferrobot /usr/local/bin/ferrobot
# Nothing in the server needs root.
RUN useradd --system --uid 10001 --no-create-home ferrobot
USER ferrobot
ENTRYPOINT ["ferrobot"]
CMD ["serve"]
