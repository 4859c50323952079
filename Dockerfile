# The worker and API image used by docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams streams
COPY agents agents
COPY schemas schemas
COPY api api
COPY infra infra
RUN pip install --no-cache-dir .
ENV AIQ_STATE_DIR=/var/lib/aiqleads
ENTRYPOINT ["aiqleads"]
