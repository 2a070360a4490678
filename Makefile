# One target per habit. `make demo` runs the pipeline locally; `make test` is what CI runs.
SHELL := /bin/bash
export SAM_CLI_TELEMETRY := 0
# `sam build` looks for python3.13 (with pip) on PATH: the project venv provides it.
export PATH := $(CURDIR)/.venv/bin:$(PATH)
SAM := .venv-sam/bin/sam
PY := .venv/bin/python
SRC := layers/voice_insights/voice_insights functions scripts tests devtools operate bench

.PHONY: setup validate build lint security audit format unit integration test reliability demo up invoke connect bench replay clean backfill reconcile \
	local-aws local-aws-show sign-request sam-local-test report query lock lock-check

# Set-up and build report on stderr: stdout is for what a command prints (make demo ARGS=--json | jq).
setup:
	@scripts/setup.sh >&2

# Re-resolve every environment's lock file from its input (scripts/lock.sh says which is which); it keeps
# the pins their inputs still allow, e.g. make lock ARGS="--upgrade-package boto3" or ARGS=--upgrade.
lock:
	scripts/lock.sh $(ARGS)

# The lock files are what their inputs resolve to: resolved again and compared. It reads the package
# index (uv's cache alone after a resolution filled it: ARGS=--offline), so it is part of `test`, not `lint`.
lock-check:
	scripts/lock.sh --check $(ARGS)

validate: setup
	$(SAM) validate --lint

build: setup
	@$(SAM) build --cached --parallel >&2

lint: setup
	$(PY) -m ruff check $(SRC)
	$(PY) -m ruff format --check $(SRC)
	$(PY) -m mypy

# checkov on the template (every suppression carries its reason in template.yaml); bandit on the code
# that is deployed (devtools/, scripts/ and tests/ get ruff's flake8-bandit rules in `lint`).
security: setup
	.venv-security/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	.venv-security/bin/bandit --quiet --recursive layers/voice_insights/voice_insights functions

# Known vulnerabilities in the layer's pinned dependencies (and what they pull in). Fails on any known
# vulnerability; says SKIPPED, and passes, for what pip-audit could not audit (all of it where PyPI's JSON API
# cannot be reached), since pip-audit itself then still says "No known vulnerabilities found".
audit: setup
	$(PY) scripts/audit.py .venv-security/bin/pip-audit --requirement layers/voice_insights/requirements.txt --progress-spinner off

format: setup
	$(PY) -m ruff format $(SRC)
	$(PY) -m ruff check --fix $(SRC)

unit: setup
	$(PY) -m pytest tests/unit

integration: build
	$(PY) -m pytest tests/integration

# Everything CI checks: the lock files, template lint, build, code lint and types, security checks, then every test.
test: lock-check validate build lint security audit
	$(PY) -m pytest

# The reliability tests at full size (10,000+ generated bad inputs, 150 order/duplicate examples, faults on
# bigger traffic, 50,000 events of load); `make test` runs the same tests smaller. Prints their figures.
# About 26-51 minutes on a 2-core machine, so it says when each file starts and each test ends.
RELIABILITY_TESTS := tests/integration/test_properties.py tests/integration/test_bad_input.py \
	tests/integration/test_faults.py tests/integration/test_load.py
# What the run shows: a test's name (not the log lines pytest -s glues to it), its outcome, figures, summaries.
export RELIABILITY_SHOWN := ^tests/[^ ]+( (PASSED|FAILED|ERROR|SKIPPED).*)?|^(PASSED|FAILED|ERROR)( .*)?$$|^figures \|.*|^=+ .*(passed|failed|error).* =+$$
reliability: build
	@set -o pipefail; failed=0; for tests in $(RELIABILITY_TESTS); do \
	  echo "$$(date +%T) $$tests ..."; \
	  RELIABILITY=full $(PY) -m pytest -v -s -p no:logging $$tests 2>&1 \
	    | grep --line-buffered -oE "$$RELIABILITY_SHOWN" || failed=1; \
	done; exit $$failed

demo: build
	@PYTHONPATH=layers/voice_insights $(PY) -m devtools.local demo $(ARGS)

# The local stack until Ctrl-C: moto, the functions, the stream pollers and the webhook gateway.
up: build
	@PYTHONPATH=layers/voice_insights $(PY) -m devtools.local up $(ARGS)

# `sam local invoke` without Docker, e.g. make invoke FUNCTION=QualityAlertsFunction \
#   EVENT=events/quality_alerts/stream-participant-with-issues.json ARGS=--seed
invoke: build
	@PYTHONPATH=layers/voice_insights $(PY) -m devtools.local invoke $(FUNCTION) $(EVENT) $(ARGS)

# A local AWS endpoint for `sam local invoke`/`start-api` (Docker) until Ctrl-C: the template's data resources
# under events/env.json's names, the local token in the secret; prints what to run on macOS and Linux, e.g.
#   make local-aws ARGS="--host 172.17.0.1 --port 5000"    (Linux: the docker0 address)
local-aws: setup
	@PYTHONPATH=layers/voice_insights $(PY) -m devtools.local local-aws $(ARGS)

# What the local table, bucket and alert queue hold, e.g. make local-aws-show ARGS="--endpoint-url http://127.0.0.1:5000"
local-aws-show: setup
	@PYTHONPATH=layers/voice_insights $(PY) -m devtools.local local-aws-show $(ARGS)

# A signed curl for `sam local start-api`, e.g. make sign-request ARGS=events/participant_summary_complete/webhook.json
sign-request: setup
	@PYTHONPATH=layers/voice_insights $(PY) -m devtools.local sign-request $(ARGS)

# The literal `sam local invoke` of every file in events/ (Docker and the Lambda base image needed; skipped
# with the reason elsewhere), then the local table and bucket checked.
sam-local-test: build
	SAM_LOCAL_TESTS=1 $(PY) -m pytest -rs tests/docker

# Write units, CPU as Lambda bills it, keep-up memory, cold starts, cost per million events and capacity; prints
# them. ARGS="--write" also writes bench/RESULTS.md (tracked); --participants N, --peak-factor F: capacity table.
bench: build
	@PYTHONPATH=layers/voice_insights:. $(PY) -m bench.run $(ARGS)

# Create the Twilio Event Streams sink(s) and subscriptions for a deployed stack, e.g.
#   make connect ARGS="--stack-name voice-insights --sink kinesis --external-id $$EXTERNAL_ID --dry-run"
connect: setup
	@PYTHONPATH=layers/voice_insights $(PY) -m operate.connect_twilio $(ARGS)

# Replay what Lambda gave up on, from a deployed stack's on-failure queue, e.g.
#   make replay ARGS="--queue-url $$(aws cloudformation describe-stacks --stack-name voice-insights \
#     --query \"Stacks[0].Outputs[?OutputKey=='StreamFailuresQueueUrl'].OutputValue\" --output text)"
replay: setup
	@PYTHONPATH=layers/voice_insights $(PY) -m operate.replay $(ARGS)

clean:
	rm -rf .aws-sam .venv .venv-sam .venv-runtime .venv-security .venv-uv .pytest_cache .mypy_cache .ruff_cache

# The quality report (docs/read.md): from the lake (.lake/, or Athena with --stack-name) trends per day, week or
# month, issue shares, MOS per region, the worst participants and conferences; the table mode as before, e.g.
#   make report ARGS="--from 2026-09-07 --to 2026-11-30 --png trends.png"
#   make report ARGS="--endpoint-url http://127.0.0.1:<moto port> --table <table> --format csv"   (make up prints both)
report: setup
	@PYTHONPATH=layers/voice_insights:. $(PY) -m operate.report $(ARGS)

# A named or free query over the history lake (docs/queries.md): DuckDB over .lake/ by default, Athena with
# --stack-name; --format table|csv|json, --list for the named queries and their parameters, e.g.
#   make query ARGS="--name weekly_kpis --from 2026-11-02 --to 2026-11-30 --by region"
query: setup
	@PYTHONPATH=layers/voice_insights:. $(PY) -m operate.query $(ARGS)

# Fill the table from Twilio's Conference Insights REST API (docs/backfill.md), credentials as for `make connect`, e.g.
#   make backfill ARGS="--since 2026-11-01T00:00:00Z --stack-name voice-insights [--until …] [--dry-run] [--alerts] [--resume]"
#   local runner: ARGS="--since … --endpoint-url http://127.0.0.1:PORT [--twilio-base-url http://127.0.0.1:STUB]"
backfill: setup
	@PYTHONPATH=layers/voice_insights $(PY) -m operate.backfill backfill $(ARGS)

# What Twilio has that the table lacks or holds older, e.g. make reconcile ARGS="--since … --stack-name voice-insights --fill"
reconcile: setup
	@PYTHONPATH=layers/voice_insights $(PY) -m operate.backfill reconcile $(ARGS)
