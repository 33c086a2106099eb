# The Journey Tracker image: every project service (collector, worker + sink, simulator,
# migrations, topics) is this image with a different `journeys` command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY journeys ./journeys
COPY schemas ./schemas
COPY producers ./producers
COPY streams ./streams
COPY clickhouse ./clickhouse
COPY grafana ./grafana
RUN pip install --no-cache-dir . && useradd --create-home journeys && mkdir -p /data && chown journeys /data
USER journeys
ENV JOURNEYS_DATA_DIR=/data
ENTRYPOINT ["journeys"]
CMD ["--help"]
