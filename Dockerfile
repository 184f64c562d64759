# breast-workup image for the scaled-out mode (docker-compose.yml): the `workup` CLI, the web
# app, the Prefect server and the Prefect worker all run from it.
FROM python:3.11-slim

# PYTHONPATH: the code directory comes before site-packages, so tracking.settings.REPO_ROOT is
# /app and alembic.ini, migrations/ and config/ (pathways, prefect.yaml) are found there; the
# deployments run their flows from /app as well (config/prefect.yaml pull step, `workup deploy`).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    WORKUP_HOME=/home/workup/.workup

WORKDIR /app

# Only what the application needs (no .venv, no .workup data from a developer's checkout).
COPY pyproject.toml README.md alembic.ini ./
COPY tracking ./tracking
COPY flows ./flows
COPY migrations ./migrations
COPY config ./config

# Pango and HarfBuzz for WeasyPrint (letters as PDF, tracking/letters/templates.py).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
    && rm -rf /var/lib/apt/lists/*

RUN pip install . \
    && rm -rf build ./*.egg-info \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin workup

USER workup

EXPOSE 8000 4200
CMD ["workup", "--help"]
