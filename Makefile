# Two entry points for a newcomer: `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The pinned CDK CLI (package.json, package-lock.json), installed by `npm ci`.
NPM_STAMP := node_modules/.installed-stamp
CDK_OUT ?= cdk.out
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 18,19,20,21,22,23

.PHONY: install demo test lint preflight

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet "pip>=23,<=26.2"
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

demo: $(STAMP)
	$(PY) -m seisless.demo

test: $(STAMP) preflight
	$(PY) -m ruff check .
	$(PY) -m pytest

# Before `cdk deploy`: synthesize with the pinned CLI (cdk.json's `python3 app.py`, which is
# the venv's python first on PATH; cdk-nag fails the synthesis on a finding), then lint
# the assembly (seisless.preflight). No notices, version check or telemetry: no network.
preflight: $(STAMP) $(NPM_STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" CDK_DISABLE_VERSION_CHECK=1 \
	  CDK_DISABLE_CLI_TELEMETRY=true npx --no-install cdk synth --quiet --no-notices \
	  --output $(CDK_OUT)
	$(PY) -m seisless.preflight --cdk-out $(CDK_OUT)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
