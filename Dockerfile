# Seedream Discord bot. Build: docker build -t seedream-bot .
# Run:   docker run --env-file .env -v seedream-data:/data seedream-bot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite:////data/seedream.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin seedream \
    && mkdir -p /data && chown seedream /data

USER seedream
VOLUME ["/data"]
ENTRYPOINT ["seedream-bot"]
CMD ["run"]
