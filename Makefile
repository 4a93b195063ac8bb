# `make run` and `make test` work on a fresh machine: they create .venv and
# install what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test install install-test chromium clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test chromium

# Serve the app with embedded defaults (SQLite, in-memory channel layer).
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) -m realtime.serve -b $(HOST) -p $(PORT) config.asgi:application

# Debian's Chromium for the page tests (Playwright drives it; nothing is downloaded).
chromium:
	@bash scripts/ensure-chromium.sh

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks (bench/README.md): /ws/echo throughput against a stock Channels
# consumer on stock Daphne, and /ws/time fan-out to 3,000 sockets over two
# processes and the Redis at REDIS_URL (default 127.0.0.1:6379). Results:
# bench/results/*.json. Uses both cores for about 3 minutes.
.PHONY: bench
bench: $(VENV)/.installed-test
	$(PY) bench/echo_throughput.py
	$(PY) bench/time_fanout.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
