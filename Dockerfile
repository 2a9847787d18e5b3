# walletgate. Default: the gateway alone in front of an existing exchange API,
#   docker run -e WALLETGATE_UPSTREAM__URL=http://exchange:8000 -p 8080:8080 \
#     -v walletgate-data:/data walletgate
# Demo with the bundled order backend instead (one container, SQLite):
#   docker run -p 8080:8080 -v walletgate-data:/data walletgate walletgate run
# deploy/compose.yaml runs several replicas with PostgreSQL, Redis, Prometheus
# and Grafana (docs/ingress.md, docs/operations.md).
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 walletgate
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY backend ./backend
COPY config ./config
RUN pip install --no-cache-dir . && mkdir -p /data && chown 10001:10001 /data

USER 10001
WORKDIR /data
# Keys (SQLite default) and the demo's orders live here: a volume, so they
# survive a recreated container.
VOLUME ["/data"]
# Listen on every interface inside the container; the upstream comes from
# WALLETGATE_UPSTREAM__URL. The bundled backend of `walletgate run` stays on
# loopback, reachable only through the gateway.
ENV WALLETGATE_LISTEN__HOST=0.0.0.0 \
    WALLETGATE_ADMIN__HOST=0.0.0.0 \
    WALLETGATE_STORE__URL=sqlite:////data/walletgate.db \
    WALLETGATE_BACKEND__DATABASE=/data/orders.db
EXPOSE 8080 9100
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/healthz', timeout=2)"]
CMD ["walletgate", "gateway"]
