# Secure S3 ingest pipeline (CDKTF, Python). Quick start: `make setup`, then `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_SYSTEM ?= python3
VENV          := .venv
VENV_CHECKOV  := .venv-checkov
PY            := $(VENV)/bin/python
NODE22_DIR    := tools/node22
NODE_MIN      := 22
ENV           ?= dev
# A local Node.js 22 (when the system one is older) and the local npm tools come first.
export PATH := $(CURDIR)/$(NODE22_DIR)/node_modules/.bin:$(CURDIR)/tools/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export CHECKPOINT_DISABLE := 1
export CDKTF_DISABLE_PLUGIN_CACHE_ENV := 1
export DISABLE_VERSION_CHECK := 1

STAMPS := .setup-stamps

.PHONY: help setup test synth build redrive validate bench snapshot e2e clean
help: ## List the targets
	@grep -hE '^[a-z][a-z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(STAMPS)/venv $(STAMPS)/venv-checkov $(STAMPS)/node22 $(STAMPS)/npm-tools ## Install everything the project needs, locally (idempotent)
	@echo "setup complete: $$($(PY) --version), node $$(node --version), cdktf $$(cdktf --version 2>/dev/null | tail -n1), terraform: $$(command -v terraform >/dev/null && terraform version | head -n1 || echo 'not on PATH (Terraform tests will skip)')"

$(STAMPS)/venv: requirements.txt
	@mkdir -p $(STAMPS)
	test -x $(PY) || $(PYTHON_SYSTEM) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(STAMPS)/venv-checkov: requirements-checkov.txt
	@mkdir -p $(STAMPS)
	test -x $(VENV_CHECKOV)/bin/python || $(PYTHON_SYSTEM) -m venv $(VENV_CHECKOV)
	$(VENV_CHECKOV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

# jsii wants Node.js 22 or 24: install node@22 from npm only when the system Node is older.
$(STAMPS)/node22: tools/node-version
	@mkdir -p $(STAMPS)
	@major=$$(PATH=$${PATH#*$(NODE22_DIR)/node_modules/.bin:} node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0); \
	if [ "$$major" -lt $(NODE_MIN) ]; then \
	  echo "system Node.js is $$major (< $(NODE_MIN)): installing node@$$(cat tools/node-version) locally into $(NODE22_DIR)"; \
	  npm install --silent --no-audit --no-fund --no-save --prefix $(NODE22_DIR) "node@$$(cat tools/node-version)"; \
	else echo "system Node.js $$major is supported"; fi
	@touch $@

$(STAMPS)/npm-tools: tools/package.json tools/package-lock.json $(STAMPS)/node22
	@mkdir -p $(STAMPS)
	npm ci --silent --no-audit --no-fund --prefix tools
	@touch $@

test: ## Run the whole test suite
	$(PY) -m pytest

HANDLER_ZIP     := dist/handler.zip
HANDLER_SOURCES := $(shell find handler -name '*.py' -not -path '*/__pycache__/*' 2>/dev/null)

build: $(HANDLER_ZIP) ## Zip handler/ into dist/handler.zip (byte-reproducible) and print its source_code_hash

# Rebuilt when a source is newer; tools/build_zip.py writes only when the bytes change.
$(HANDLER_ZIP): $(HANDLER_SOURCES) tools/build_zip.py
	$(PY) -m tools.build_zip

redrive: ## Re-invoke the function with every dead-lettered event of ENV (default dev), deleting each after hand-off
	$(PY) -m tools.redrive --env $(ENV)

synth: $(HANDLER_ZIP) ## Synthesize every stack into cdktf.out/stacks/<stack>/cdk.tf.json
	$(PY) main.py

clean: ## Remove generated output (not the installed tools)
	rm -rf cdktf.out dist .pytest_cache

validate: synth ## terraform init -backend=false + validate on every stack (offline mirror; skips without Terraform)
	$(PY) -m tools.terraform_cli validate cdktf.out

bench: ## Benchmarks side by side with their baselines (synth: plain vs fast provider import)
	$(PY) -m tools.bench
