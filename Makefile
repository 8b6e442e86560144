# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
JS := tests/contract/js

.PHONY: run test test-fast split migrate bench lint clean services

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(JS)/node_modules/.installed: $(JS)/package.json $(JS)/package-lock.json
	npm ci --prefix $(JS) --no-audit --no-fund --loglevel=error
	touch $@

## Serve the whole API on 127.0.0.1:8080 in one process (embedded: no Redis/Postgres needed).
run: $(VENV)/.installed
	$(PY) -m gateway --embedded

## Everything the tests need (Redis, Postgres, Node client, Chromium, k8s tools, nginx, promtool), then the suite.
test: $(VENV)/.installed $(JS)/node_modules/.installed
	scripts/services-up
	scripts/ensure-chromium
	scripts/ensure-k8s-tools
	scripts/ensure-nginx
	scripts/ensure-promtool
	MFA_TEST_STRICT=$${MFA_TEST_STRICT:-1} $(PY) -m pytest -q

## The suite without the set-up steps (for quick local runs).
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -x

services:
	scripts/services-up

## Split mode: gateway and each service as its own process, on MFA_REDIS_URL / MFA_DATABASE_URL.
split: $(VENV)/.installed
	scripts/run-split

migrate: $(VENV)/.installed
	$(PY) -m shared.stores.migrate up

## Benchmarks (split mode on loopback, real Redis and Postgres); prints figures.
bench: $(VENV)/.installed
	scripts/services-up
	$(PY) -m bench

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check gateway services shared tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(JS)/node_modules var
