# Returns-photo classifier: the API image (also runs the batch and the dashboard).
# Serving dependencies only (LiteRT, no TensorFlow); the trained model is baked in.
#   docker build -t fashion-classifier .
#   docker run -p 127.0.0.1:8080:8080 fashion-classifier
# The whole system (proxy, API, batch, dashboard): docker-compose.yml, docs/OPERATIONS.md.
# Settings: environment variables (FASHION_*, PORT, API_URL); no secret is in the image:
# config/app.env and config/batch.env stay on the host (.dockerignore).
# BASE: any Debian bookworm image with python3 and python3-venv; the API and batch run on its
# interpreter. make image-test builds on a base made locally with mmdebstrap (.ci/image-base.sh).
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements.txt pyproject.toml ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt
COPY src/ src/
# pip and setuptools only build the venv: the runtime venv keeps neither
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools wheel \
    && find /opt/venv -name "__pycache__" -type d -prune -exec rm -rf {} +

FROM ${BASE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/app \
    FASHION_ROOT=/app \
    FASHION_VENV=/opt/venv \
    PORT=8080 \
    FASHION_API_HOST=0.0.0.0 \
    API_URL=http://127.0.0.1:8080
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY api/ api/
COPY monitoring/ monitoring/
COPY config/category_codes.json config/locations.json config/batch.env.example config/
COPY models/fashion_classifier.tflite models/labels.json models/model_card.json models/
COPY src/batch_processor.py src/_bootstrap.py src/
COPY run_batch_processing.sh ./
COPY deploy/ deploy/
# The code belongs to root; uid 10001 writes only its folders (volumes in docker-compose.yml,
# whose host folders must belong to 10001:10001 too: deploy/compose-setup.sh).
RUN mkdir -p data/incoming data/processed_batches data/failed data/corrections data/retake \
        results/batch_results results/reports logs exports \
    && chown -R 10001:10001 data results logs exports
USER 10001:10001
EXPOSE 8080
VOLUME ["/app/data", "/app/results", "/app/logs", "/app/exports"]
# kept only in docker format (build with --format docker under podman/buildah)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8080'), timeout=4)"]
CMD ["gunicorn", "-c", "api/gunicorn.conf.py", "api.wsgi:app"]
