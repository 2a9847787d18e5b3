# walletgate: gateway + bundled order backend on the embedded SQLite default.
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 walletgate
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY backend ./backend
COPY config ./config
RUN pip install --no-cache-dir . && mkdir -p /data && chown walletgate /data

USER walletgate
WORKDIR /data
# Listen on every interface inside the container; the bundled backend stays on
# loopback, reachable only through the gateway.
ENV WALLETGATE_LISTEN__HOST=0.0.0.0 \
    WALLETGATE_ADMIN__HOST=0.0.0.0
EXPOSE 8080 9100
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/healthz', timeout=2)"
CMD ["walletgate", "run", "--host", "0.0.0.0"]
