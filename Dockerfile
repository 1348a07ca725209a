# Release image for the `ferrobot` binary.
#   Build: docker build -t ferrobot .
#   Run:   docker run -p 8080:8080 ferrobot serve
# With no settings it serves SQLite from the volume /var/lib/ferrobot (the JWT secret is
# generated once beside the database file) on 0.0.0.0:8080. For PostgreSQL or MySQL set
# FERROBOT_DATABASE_URL and FERROBOT_JWT_SECRET (see docker-compose.yml).
# The build uses BuildKit cache mounts (BuildKit is Docker's default builder since 23.0).

FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace is needed: crates embed files from schema/ and migrations/.
COPY . .
# Cargo's registry and target/ live in cache mounts, so a rebuild after a source change
# recompiles only the workspace's crates, not every dependency. A cache mount is not part
# of the image, hence the copy out of target/ in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ferrobot \
    && cp target/release/ferrobot /usr/local/bin/ferrobot

FROM debian:bookworm-slim
# ca-certificates: outgoing TLS (rustls) needs a root store.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# Nothing in the server needs root. Its data directory (the default SQLite database, and the
# JWT secret and migration lock file kept beside it) belongs to the ferrobot user. It is made
# here, before VOLUME: Docker copies it, with its owner, into a new volume, so the volume is
# writable too. A bind mount keeps the host directory's owner: make it writable by uid 10001.
RUN groupadd --system --gid 10001 ferrobot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/ferrobot \
        --no-create-home --shell /usr/sbin/nologin ferrobot \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/ferrobot
COPY --from=build /usr/local/bin/ferrobot /usr/local/bin/ferrobot
ENV FERROBOT_DATABASE_URL=sqlite:///var/lib/ferrobot/ferrobot.sqlite3 \
    FERROBOT_BIND=0.0.0.0:8080
WORKDIR /var/lib/ferrobot
VOLUME ["/var/lib/ferrobot"]
# Numeric, so that runtimes checking "not root" (Kubernetes runAsNonRoot) can tell.
USER 10001:10001
EXPOSE 8080
# `ferrobot serve` drains requests in flight on SIGTERM and exits 0. Docker sends SIGKILL
# after its stop timeout, 10 s by default, shorter than the server's drain time (30 s unless
# FERROBOT_DRAIN_SECONDS says otherwise): raise it with `docker stop -t` or compose's
# `stop_grace_period`.
STOPSIGNAL SIGTERM
# Liveness: GET /health answers 200 while the process runs. The slim image has no curl, and
# installing it would pull libcurl and a dozen libraries into the image for this one check;
# bash (always present in Debian) can speak the one HTTP/1.0 request over /dev/tcp instead.
# The port is taken from FERROBOT_BIND at check time, so overriding it keeps the check right.
# (A shell-form HEALTHCHECK would run /bin/sh, which is dash here and has no /dev/tcp.)
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${FERROBOT_BIND##*:} && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["ferrobot"]
CMD ["serve"]
