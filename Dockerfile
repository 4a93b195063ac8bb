# The app image: Daphne (python -m realtime.server) serving Django + Channels.
# docker-compose.yml runs it as `setup` (migrate, collectstatic, admin user)
# and as `web` (the server, scalable: --scale web=3).
# The base image is the official one unless PYTHON_IMAGE names another with
# `python` and `pip` on PATH (the compose test's stand-in where Docker Hub
# cannot be reached).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    DJANGO_STATIC_ROOT=/srv/static \
    DJANGO_SECRET_KEY_FILE=/srv/data/django_secret_key

WORKDIR /app
# The lock (exact versions, hashes checked), compiled from requirements.txt
# by `make lock`.
COPY requirements.lock .
RUN pip install --require-hashes -r requirements.lock

COPY manage.py ./
COPY config ./config
COPY realtime ./realtime
COPY templates ./templates
COPY static ./static
COPY scripts/dev_cert.py ./scripts/dev_cert.py
COPY scripts/init_secrets.py ./scripts/init_secrets.py

# An unprivileged user; it owns the static volume's mount point so
# collectstatic (run by `setup`) can write into the named volume, and /srv/data
# where `docker run` without DJANGO_SECRET_KEY keeps the key it makes (DEBUG is
# off unless DJANGO_DEBUG=1).
RUN useradd --system --uid 10001 --home-dir /app app \
    && mkdir -p /srv/static /srv/certs /srv/data \
    && chown app /srv/static /srv/certs /srv/data
USER app

EXPOSE 8000 8443
# The health check compose uses, also here for `docker run`.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys,urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3).status != 200)"]
CMD ["python", "-m", "realtime.server", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "config.asgi:application"]
