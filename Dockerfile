# syntax=docker/dockerfile:1.7
# Tact service image. The README's non-Docker path (scripts/run) is the primary one;
# this file is kept correct by reading.
FROM python:3.11.10-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AGENT_HOST=0.0.0.0 \
    AGENT_PORT=8000 \
    AGENT_DATA_DIR=/var/lib/tact \
    AGENT_MODELS_DIR=/var/lib/tact/models

# espeak-ng: the voice channel's text-to-speech (pyttsx3 drives libespeak-ng).
# libpq5: psycopg 3 (procrastinate, the distributed dialer) loads the system libpq.
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng libpq5 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system tact && useradd --system --gid tact --home-dir /app --shell /usr/sbin/nologin tact

WORKDIR /app
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY dialogue_policies ./dialogue_policies
COPY scripts_templates ./scripts_templates
COPY data ./data
# torch first, pinned, so `pip install .` resolves around it. To slim the image, pass
# --build-arg TORCH_PIP_ARGS="--index-url <your CPU-only torch index>".
ARG TORCH_PIP_ARGS=""
RUN pip install "torch==2.13.0" $TORCH_PIP_ARGS \
    && pip install . \
    && mkdir -p /var/lib/tact \
    && chown -R tact:tact /var/lib/tact
# The classifier is built into the image (seeded, ~10 min on 2 cores), never at run time.
ENV AGENT_MODEL_DIR=/app/models/classifier
RUN agent train --if-missing --train data/train.jsonl --test data/test.jsonl

USER tact
# 8000 HTTP/WebSocket; 9092 Asterisk AudioSocket when AGENT_AUDIOSOCKET_PORT=9092.
EXPOSE 8000 9092
VOLUME ["/var/lib/tact"]
# The policies and templates live beside the package in /app.
ENV AGENT_POLICIES_DIR=/app/dialogue_policies \
    AGENT_TEMPLATES_DIR=/app/scripts_templates
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
CMD ["agent", "serve"]
