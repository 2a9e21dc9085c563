# dlwp: `make demo` and `make test` (both install first). See README.md.
SHELL := /bin/bash

# Python 3.10 (TFX 1.16 needs it). pyenv's 3.10 is not on PATH here; override with PYTHON=...
PYTHON ?= $(shell p=$$(pyenv prefix 3.10.13 2>/dev/null) && echo $$p/bin/python3.10 || command -v python3.10)
# uv from PATH, else bootstrapped into .tools/ with the system's Python.
UV ?= $(shell command -v uv || echo .tools/bin/uv)
# Debian packages the project needs: the real Fashion-MNIST (the IDX files keras reads),
# Chromium for the browser demo's test, and Prometheus (promtool) for monitoring/.
DEBIAN_PACKAGES := dataset-fashion-mnist chromium prometheus wrk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_HOME ?= dlwp-home
PYTEST_ARGS ?=
# Two pytest-xdist workers: the e2e runs leave a core idle much of the time (tests/conftest.py
# keeps the tests of one costly fixture on one worker).
PYTEST_WORKERS ?= 2

export UV_PYTHON_DOWNLOADS := never

.PHONY: install debian-packages demo monitor k8s-sync test lint clean

install: .venv/installed web/node_modules/installed debian-packages

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet uv

.venv/installed: pyproject.toml uv.lock | $(UV)
	@[ -x "$(PYTHON)" ] || { echo "Python 3.10 not found; run: make PYTHON=/path/to/python3.10 ..." >&2; exit 2; }
	$(UV) sync --frozen --python "$(PYTHON)"
	touch $@

# TF.js for the exports' parity checks in Node and for the browser demo (web/package-lock.json).
web/node_modules/installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

debian-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get install -y -qq $$missing >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; }; \
	fi

demo: install
	.venv/bin/dlwp run fashion_mnist --home $(DEMO_HOME)
	.venv/bin/dlwp request fashion_mnist --home $(DEMO_HOME)
	@echo "Serving now; in another terminal paste the curl line above, or open"
	@echo "http://localhost:8501/demo/ for the TF.js model in the browser, and"
	@echo "http://localhost:8501/reports/fashion_mnist/latest/ for its report (Ctrl-C stops the server)."
	.venv/bin/dlwp serve --home $(DEMO_HOME)

# Prometheus on :9090 with the alert rules, scraping a running `dlwp serve` (docs/monitoring.md).
DLWP_TARGET ?= localhost:8501
monitor: debian-packages
	monitoring/run_prometheus.sh $(DLWP_TARGET) $(DEMO_HOME)/prometheus

# After editing monitoring/ or pipelines/k8s_job.py: regenerate k8s/'s generated files (the
# PrometheusRule, the dashboard ConfigMaps and the base pipeline Job).
k8s-sync: install
	.venv/bin/python k8s/sync.py

# Lint: ruff's rules and format, mypy on the project's packages, and the import rules of
# docs/architecture.md (import-linter contracts in pyproject.toml).
lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports --no-cache

test: lint
	.venv/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

clean:
	rm -rf .venv .tools web/node_modules $(DEMO_HOME)
