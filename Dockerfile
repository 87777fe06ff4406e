# Returns-photo classifier: the API image (also runs the batch and the dashboard).
# Serving dependencies only (LiteRT, no TensorFlow); the trained model is baked in.
#   docker build -t fashion-classifier .
#   docker run -p 8080:8080 fashion-classifier
# Settings: environment variables (FASHION_*, PORT, API_URL, RATELIMIT_ENABLED); see README.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements.txt pyproject.toml ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt
COPY src/ src/
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && find /opt/venv -name "__pycache__" -type d -prune -exec rm -rf {} +

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FASHION_ROOT=/app \
    PORT=8080 \
    API_URL=http://127.0.0.1:8080
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY api/ api/
COPY monitoring/ monitoring/
COPY config/ config/
COPY models/ models/
COPY src/batch_processor.py src/batch_processor.py
COPY run_batch_processing.sh ./
COPY deploy/ deploy/
RUN mkdir -p data/incoming data/processed_batches data/failed results/batch_results results/reports logs \
    && chown -R app:app data results logs
USER 10001:10001
EXPOSE 8080
VOLUME ["/app/data", "/app/results", "/app/logs"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8080'), timeout=4)"]
CMD ["gunicorn", "-c", "api/gunicorn.conf.py", "api.wsgi:app"]
