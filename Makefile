# `make run` and `make test` work on a fresh machine: they create .venv and
# install what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run run-tls test conformance install install-test chromium test-tools clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test chromium test-tools

# Serve the app with embedded defaults (SQLite, in-memory channel layer).
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) -m realtime.serve -b $(HOST) -p $(PORT) config.asgi:application

# The same server, also on https://$(HOST):$(TLS_PORT) and wss:// with a local
# development certificate (certs/; trust certs/ca.pem in the client).
TLS_PORT ?= 8443
run-tls: $(VENV)/.installed
	$(PY) scripts/dev_cert.py certs
	$(PY) manage.py migrate --noinput
	REALTIME_TLS_CERT_FILE=certs/server.pem REALTIME_TLS_KEY_FILE=certs/server-key.pem \
	REALTIME_TLS_PORT=$(TLS_PORT) REALTIME_TLS_BIND=$(HOST) \
	$(PY) -m realtime.serve -b $(HOST) -p $(PORT) config.asgi:application

# Autobahn TestSuite (every case, compression included) against /ws/echo;
# report in reports/autobahn/index.html. Needs Python 2.7.18 (see the script).
conformance: $(VENV)/.installed
	bash scripts/ensure-autobahn.sh .autobahn-venv
	$(PY) scripts/conformance.py --wstest .autobahn-venv/bin/wstest --outdir reports/autobahn

# nginx (the compose parity test runs the proxy config), wscat (the TLS test)
# and redis-server (the shared Redis on 6379; the topology tests' own servers).
test-tools:
	@bash scripts/ensure-nginx.sh
	@bash scripts/ensure-wscat.sh
	@bash scripts/ensure-redis.sh

# Debian's Chromium for the page tests (Playwright drives it; nothing is downloaded).
chromium:
	@bash scripts/ensure-chromium.sh

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks (bench/README.md): /ws/echo throughput against a stock Channels
# consumer on stock Daphne, and /ws/time fan-out to 3,000 sockets over two
# processes and the Redis at REDIS_URL (default 127.0.0.1:6379), and chat
# fan-out to a 1,000-member room over two processes. Results:
# bench/results/*.json. Uses both cores for about 3 minutes.
.PHONY: bench
# The echo benchmark keeps a core saturated; it runs last so that the latency
# benchmarks do not run in the backlog it leaves on a shared machine.
bench: $(VENV)/.installed-test
	$(PY) bench/time_fanout.py
	$(PY) bench/chat_fanout.py
	$(PY) bench/echo_throughput.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
