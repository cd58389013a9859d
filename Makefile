# The project's commands. `make lab` and `make test` are the README's set-up.
#
#   make lab        start the lab Mac, deploy to it, check it, print how to reach it (root)
#   make test       every test suite (root: the proxy and lab suites use namespaces)
#   make drift      exit 0 converged, 2 drifted, 1 error: the CI dry run (INVENTORY=...)
#   make status     per-client requests, errors and latency of each Mac's proxy (INVENTORY=...)
#   make reapply    apply and append a JSON report line (the periodic re-apply)
#   make render     write every file the deploy would install, offline (OUT=build/render)
#   make lab-down   remove everything the lab made
#   make lint       ruff check (configured in pyproject.toml)
#   make bench      the benchmarks: bench/results/<date>.json, docs/benchmarks.md (root; BENCH_QUICK=1: smoke run)

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYINFRA := $(VENV)/bin/pyinfra
# The admin tools: python -m private_ollama SUBCOMMAND (see private_ollama/commands/).
ADMIN := $(PY) -m private_ollama
INVENTORY ?= lab/inventory.py
OUT ?= build/render
# Knob overrides for drift, status, reapply and render, as pyinfra's --data: DATA="proxy_api_keys=true proxy_port=8443".
DATA ?=
DATA_ARGS := $(foreach assignment,$(DATA),--data $(assignment))
LAB_DIR ?= $(CURDIR)/.lab
export PRIVATE_OLLAMA_LAB_DIR := $(LAB_DIR)
# Non-empty: the two-minute smoke run of `make bench`, written under build/bench-quick.
BENCH_QUICK ?=

# Debian packages the lab and the tests run for real.
APT_PACKAGES := haproxy openssh-server openssh-client sudo iproute2 lsof procps curl python3 python3-venv nginx-light wrk

.PHONY: deps lab lab-up lab-deploy lab-check lab-down test lint drift status reapply render root bench

root:
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "make: this target needs root: it installs Debian packages and makes network and mount namespaces for the lab host. Run it with sudo." >&2; exit 1; fi

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

deps: root $(VENV)/.installed
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "--> Installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

lab: deps lab-up lab-deploy lab-check
	@$(PY) -m lab.summary

lab-up: deps
	lab/labctl up

lab-deploy:
	TAILSCALE_AUTHKEY="$$(cat $(LAB_DIR)/authkey)" $(PYINFRA) -y $(INVENTORY) deploy.py

lab-check:
	$(PY) -m pytest -q -p no:cacheprovider tests/host --ssh-config=$(LAB_DIR)/ssh_config --hosts="$$($(PY) -m lab.summary --hosts)"

lab-down: root
	lab/labctl down

# HAProxy 3.3, the line Homebrew ships to the Mac, built for this machine (beside the project, in shared/):
# `make test` runs the proxy suite against it too, after the whole suite against Debian's 2.6.
HAPROXY_33 ?= $(firstword $(wildcard $(CURDIR)/../shared/haproxy-3.3/haproxy /work/shared/haproxy-3.3/haproxy))

test: deps
	$(PY) -m pytest
	@if [ -n "$(HAPROXY_33)" ] && [ -x "$(HAPROXY_33)" ]; then \
	  echo "--> The proxy suite again, against $$($(HAPROXY_33) -v | head -n 1) ($(HAPROXY_33))"; \
	  PRIVATE_OLLAMA_HAPROXY="$(HAPROXY_33)" $(PY) -m pytest -q tests/proxy tests/clients tests/unit/test_haproxy_render.py tests/unit/test_hardening_render.py tests/unit/test_pool_render.py; \
	else \
	  echo "--> NOT RUN: the proxy suite against HAProxy 3.3 (Homebrew's line): no binary at ../shared/haproxy-3.3/haproxy; set HAPROXY_33=PATH"; \
	fi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check

drift: $(VENV)/.installed
	$(ADMIN) drift --inventory $(INVENTORY) $(DATA_ARGS)

status: $(VENV)/.installed
	$(ADMIN) status --inventory $(INVENTORY) $(DATA_ARGS)

reapply: $(VENV)/.installed
	$(ADMIN) reapply --inventory $(INVENTORY) $(DATA_ARGS)

render: $(VENV)/.installed
	$(ADMIN) render --out $(OUT) --inventory $(INVENTORY) $(DATA_ARGS)

bench: deps
	$(PY) -m bench $(if $(BENCH_QUICK),--quick)
