# Three commands do all set-up on a fresh machine: `make run`, `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
JS := tests/contract/js
BOX := demo/box

.PHONY: run demo test test-fast split migrate bench bench-clients bench-scale lint clean services deploy-check

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(JS)/node_modules/.installed: $(JS)/package.json $(JS)/package-lock.json
	npm ci --prefix $(JS) --no-audit --no-fund --loglevel=error
	touch $@

# Frontegg's login box for `make demo` and its browser test: the exact packages of the lock file
# (integrity-checked by npm ci), then bundled offline by esbuild.
$(BOX)/node_modules/.installed: $(BOX)/package.json $(BOX)/package-lock.json
	npm ci --prefix $(BOX) --no-audit --no-fund --loglevel=error
	touch $@

$(BOX)/dist/index.html: $(BOX)/node_modules/.installed $(BOX)/entry.js $(BOX)/index.html
	rm -rf $(BOX)/dist
	$(BOX)/node_modules/.bin/esbuild $(BOX)/entry.js --bundle --format=esm --splitting \
		--minify --define:process.env.NODE_ENV='"production"' --outdir=$(BOX)/dist \
		--log-level=warning
	cp $(BOX)/index.html $@

## Serve the whole API on 127.0.0.1:8080 in one process (embedded: no Redis/Postgres needed).
run: $(VENV)/.installed
	$(PY) -m gateway --embedded

## The embedded service behind Frontegg's own login box on a demo host; prints the URL to open.
demo: $(VENV)/.installed $(BOX)/dist/index.html
	$(PY) -m demo

## Everything the tests need (Redis, Postgres, Node client, login box, Chromium, k8s tools,
## nginx, promtool, podman, the network-fault tools), then the suite. Without root podman
## cannot be installed: the deploy check then says why.
test: $(VENV)/.installed $(JS)/node_modules/.installed $(BOX)/dist/index.html
	scripts/services-up
	scripts/ensure-chromium
	scripts/ensure-k8s-tools
	scripts/ensure-nginx
	scripts/ensure-promtool
	scripts/podman --version || true
	scripts/ensure-netfaults
	MFA_TEST_STRICT=$${MFA_TEST_STRICT:-1} $(PY) -m pytest -q

## The image built with podman, the prod overlay's parts run as their manifests say, logins
## through the gateway container (part of `make test` too; needs root). deploy/README.md.
deploy-check: $(VENV)/.installed
	scripts/deploy-check

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

## The scale run (bench/scale.py): the verify and login with 1M enrolled users, 10M audit rows,
## 1M outbox events, 100k trusted devices and 1M lockout records, against the small data.
bench-scale: $(VENV)/.installed
	scripts/services-up
	$(PY) -m bench --scale --levels 16 64 --verify-users 30000 --login-users 15000

## Redis clients (redis.asyncio, coredis, valkey-glide) and Postgres pool vs held connection,
## by interleaved blocks (bench/clients.py); the candidates live in a venv of their own.
BENCH_CLIENTS := var/bench-clients
$(BENCH_CLIENTS)/.installed: requirements.txt bench/requirements-clients.txt
	$(PYTHON) -m venv $(BENCH_CLIENTS)
	$(BENCH_CLIENTS)/bin/pip install --quiet -r requirements.txt -r bench/requirements-clients.txt
	touch $@

bench-clients: $(BENCH_CLIENTS)/.installed
	scripts/services-up
	$(BENCH_CLIENTS)/bin/python -m bench.clients

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check gateway services shared tests bench demo
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(JS)/node_modules $(BOX)/node_modules $(BOX)/dist var
