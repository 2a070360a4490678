# One target per habit. `make demo` runs the pipeline locally; `make test` is what CI runs.
SHELL := /bin/bash
export SAM_CLI_TELEMETRY := 0
# `sam build` looks for python3.13 (with pip) on PATH: the project venv provides it.
export PATH := $(CURDIR)/.venv/bin:$(PATH)
SAM := .venv-sam/bin/sam
PY := .venv/bin/python
SRC := layers/voice_insights/voice_insights functions scripts tests devtools

.PHONY: setup validate build lint format unit integration test demo clean

setup:
	@scripts/setup.sh

validate: setup
	$(SAM) validate --lint

build: setup
	$(SAM) build --cached --parallel

lint: setup
	$(PY) -m ruff check $(SRC)
	$(PY) -m ruff format --check $(SRC)
	$(PY) -m mypy

format: setup
	$(PY) -m ruff format $(SRC)
	$(PY) -m ruff check --fix $(SRC)

unit: setup
	$(PY) -m pytest tests/unit

integration: build
	$(PY) -m pytest tests/integration

# Everything CI checks: template lint, build, code lint and types, then every test.
test: validate build lint
	$(PY) -m pytest

demo: build
	PYTHONPATH=layers/voice_insights $(PY) -m devtools.demo

clean:
	rm -rf .aws-sam .venv .venv-sam .venv-runtime .pytest_cache .mypy_cache .ruff_cache
