# One image for the API service, the Ray head and the Ray workers (trials import `workers` on every node).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api api
COPY orchestrator orchestrator
COPY workers workers
COPY migrations migrations
COPY examples examples
RUN pip install .
EXPOSE 8000
CMD ["mutransfer", "serve", "--host", "0.0.0.0", "--port", "8000"]
