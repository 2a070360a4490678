#!/usr/bin/env bash
# Creates the four virtual environments the project uses, from the package registries:
#   .venv          Python 3.13: the application's dependencies, moto server, pytest, ruff, mypy
#   .venv-sam      the AWS SAM CLI (it pins its own boto3/click versions, so it lives apart)
#   .venv-runtime  what the Lambda python3.13 runtime has: awslambdaric and boto3 only
#   .venv-security checkov, bandit and pip-audit (they pin many packages of their own)
# Each installs its lock file (every package pinned, with hashes; scripts/lock.sh makes them).
# Re-running is cheap: an environment is rebuilt only when its lock file changed.
#   scripts/setup.sh --uv   sets up .venv-uv only (uv, which scripts/lock.sh uses) and prints uv's path
set -euo pipefail
cd "$(dirname "$0")/.."

find_python313() {
  local candidate
  for candidate in "${PYTHON313:-}" python3.13 "$(command -v pyenv >/dev/null && echo "$(pyenv root)"/versions/3.13*/bin/python3.13)"; do
    for path in $candidate; do
      # Print the base interpreter, not a venv's: setup may delete and rebuild the venv it would be in.
      if [ -n "$path" ] && "$path" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
        "$path" -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))'
        return 0
      fi
    done
  done
  return 1
}

PY=$(find_python313) || {
  echo "Python 3.13 is required (the functions run on Lambda's python3.13 runtime, and 'sam build' checks for it)." >&2
  echo "Install it (e.g. 'pyenv install 3.13') or set PYTHON313=/path/to/python3.13." >&2
  exit 1
}

if [ "${1:-}" = "--which-python" ]; then echo "$PY"; exit 0; fi

UV=.venv-uv/bin/uv
setup_uv() {  # uv, from its own lock (requirements-uv.txt), with pip
  local dir=.venv-uv want; want=$(cat requirements-uv.txt | sha256sum | cut -d' ' -f1)
  if [ -x "$UV" ] && [ "$(cat "$dir/.lock.sha256" 2>/dev/null)" = "$want" ]; then return 0; fi
  echo "setting up $dir ..." >&2
  rm -rf "$dir"
  "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --only-binary :all: \
    -r requirements-uv.txt
  echo "$want" > "$dir/.lock.sha256"
}
if [ "${1:-}" = "--uv" ]; then setup_uv; realpath "$UV"; exit 0; fi

make_venv() {  # make_venv DIR REQUIREMENTS...
  local dir=$1; shift
  local stamp="$dir/.requirements.sha256"
  local want; want=$(cat "$@" layers/voice_insights/requirements.txt | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  echo "setting up $dir ..."
  rm -rf "$dir"
  "$PY" -m venv "$dir"
  local req args=()
  for req in "$@"; do args+=(-r "$req"); done
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}"
  echo "$want" > "$stamp"
}

make_venv .venv requirements-dev.txt
make_venv .venv-sam requirements-sam.txt
make_venv .venv-runtime requirements-runtime.txt
make_venv .venv-security requirements-security.txt
echo "environments ready (python: $PY)"
