# meetinghooks in a small image: built with the Rust toolchain, run on Debian slim as a non-root user.
#
#   docker build -t meetinghooks .
#   docker run -p 8080:8080 -v meetinghooks-data:/var/lib/meetinghooks \
#       -e MEETINGHOOKS_BOOTSTRAP_API_KEY=change-me-0123456789 meetinghooks
#
# Settings are README's Configuration keys as MEETINGHOOKS_<KEY> variables; docker-compose.yml
# runs two nodes on PostgreSQL.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The caches keep the registry and the compiled dependencies between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p meetinghooks \
    && cp target/release/meetinghooks /usr/local/bin/meetinghooks

FROM debian:bookworm-slim
# ca-certificates: endpoints are https. curl: the HEALTHCHECK. Both follow Debian's security
# updates, so they are not pinned to one version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 meetinghooks \
    && useradd --system --uid 10001 --gid meetinghooks --home-dir /var/lib/meetinghooks \
        --shell /usr/sbin/nologin meetinghooks \
    && install -d -o meetinghooks -g meetinghooks -m 0750 /var/lib/meetinghooks
COPY --from=build /usr/local/bin/meetinghooks /usr/local/bin/meetinghooks

USER 10001:10001
WORKDIR /var/lib/meetinghooks
ENV MEETINGHOOKS_LISTEN=0.0.0.0:8080 \
    MEETINGHOOKS_DATABASE_URL=sqlite:///var/lib/meetinghooks/meetinghooks.db
VOLUME ["/var/lib/meetinghooks"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/readyz"]
# The server drains in-flight attempts on SIGTERM (shutdown_grace, 10 s): give it longer with
# `docker stop -t 20` or compose's stop_grace_period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/meetinghooks"]
CMD ["serve"]
