# perudo in a container: multi-stage build, non-root, the database on a volume.
#   docker build -t perudo .
#   docker run -d --name perudo -p 127.0.0.1:8080:8080 -v perudo-data:/data \
#     -e PERUDO_PUBLIC_URL=https://perudo.example.org \
#     -e PERUDO_TRUSTED_PROXIES=127.0.0.1,::1,172.16.0.0/12,192.168.0.0/16 perudo
# (the proxy on the host connects from the Docker network's gateway; publish on 127.0.0.1 only
# when you trust those ranges, see docs/DEPLOY.md)
# Put a TLS proxy (deploy/Caddyfile) in front of it, as for the binary (docs/DEPLOY.md).

# 1. The web client (embedded into the binary at build time).
FROM node:20-bookworm-slim AS web
WORKDIR /src/web-client
COPY web-client/package.json web-client/package-lock.json ./
RUN npm ci
COPY web-client/ ./
RUN npm run build

# 2. The server, with the client's build in web-client/dist.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
COPY --from=web /src/web-client/dist web-client/dist
RUN cargo build --release --locked -p perudo-server

# 3. The runtime: the binary, curl for the health check, an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home perudo \
 && mkdir /data && chown perudo:perudo /data
COPY --from=build /src/target/release/perudo /usr/local/bin/perudo
USER perudo
WORKDIR /data
VOLUME ["/data"]
ENV PERUDO_LISTEN=0.0.0.0:8080 \
    PERUDO_DB=/data/perudo.db
EXPOSE 8080
# SIGTERM: every socket is closed with "service restart" and the clients come back by
# themselves after `docker restart` or an upgrade.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "--fail", "--silent", "--show-error", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/perudo"]
CMD ["serve"]
