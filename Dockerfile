# walletgate. Default: the gateway alone in front of an existing exchange API,
#   docker run -e WALLETGATE_UPSTREAM__URL=http://exchange:8000 -p 127.0.0.1:8080:8080 \
#     -v walletgate-data:/data walletgate
# Demo with the bundled order backend instead (one container, SQLite):
#   docker run -p 127.0.0.1:8080:8080 -v walletgate-data:/data walletgate walletgate run
# Put TLS in front (deploy/caddy/Caddyfile, docs/operations.md): API keys must
# only travel over HTTPS. deploy/compose.yaml runs several replicas with
# PostgreSQL, Redis, Prometheus and Grafana (docs/operations.md).

# -- build: the package and its dependencies in a virtualenv ------------------
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/walletgate
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY backend ./backend
RUN /opt/walletgate/bin/pip install --no-cache-dir .

# -- run: the virtualenv, tini and an unprivileged user; no compilers, no pip cache
FROM python:3.11-slim
# tini is PID 1: it forwards SIGTERM to walletgate (which drains and flushes
# usage) and reaps the bundled backend and worker processes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 walletgate \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=build /opt/walletgate /opt/walletgate
COPY config /app/config
ENV PATH=/opt/walletgate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 10001
WORKDIR /data
# Keys (SQLite default) and the demo's orders live here: a volume, so they
# survive a recreated container.
VOLUME ["/data"]
# Listen on every interface inside the container; the upstream comes from
# WALLETGATE_UPSTREAM__URL. The bundled backend of `walletgate run` stays on
# loopback, reachable only through the gateway. Secrets come from files
# (WALLETGATE_<SECTION>__<KEY>_FILE=/run/secrets/...), never baked in here.
ENV WALLETGATE_LISTEN__HOST=0.0.0.0 \
    WALLETGATE_ADMIN__HOST=0.0.0.0 \
    WALLETGATE_STORE__URL=sqlite:////data/walletgate.db \
    WALLETGATE_BACKEND__DATABASE=/data/orders.db
EXPOSE 8080 9100
ENTRYPOINT ["/usr/bin/tini", "--"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/healthz', timeout=2)"]
CMD ["walletgate", "gateway"]
