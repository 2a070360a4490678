#!/usr/bin/env bash
# Creates the four virtual environments the project uses, from the package registries, each exactly as
# its lock file says (every package pinned, with hashes; scripts/lock.sh makes them):
#   .venv          Python 3.13: the application's dependencies, moto server, pytest, ruff, mypy
#                  (requirements-dev.txt, which includes the layer's lock, layers/voice_insights/requirements.txt)
#   .venv-sam      the AWS SAM CLI (it pins its own boto3/click versions, so it lives apart)
#   .venv-runtime  what the Lambda python3.13 runtime has: awslambdaric and boto3 only
#   .venv-security checkov, bandit and pip-audit (they pin many packages of their own)
# with uv, which it first installs with pip into .venv-uv (requirements-uv.txt).
# Re-running is cheap: an environment is synced only when its lock file changed, and `uv pip sync`
# makes it match the lock exactly (what the lock no longer lists is removed).
#   scripts/setup.sh --which-python   prints the Python 3.13 it uses
#   scripts/setup.sh --uv             sets up .venv-uv only and prints uv's path
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

# uv never downloads a Python of its own here: every environment uses the Python 3.13 found above.
export UV_PYTHON_DOWNLOADS=never
UV=.venv-uv/bin/uv

stamp_of() {  # stamp_of LOCKFILE: what an environment is made from, its lock and the base Python
  echo "$(sha256sum < "$1" | cut -d' ' -f1) $PY"
}

setup_uv() {
  local dir=.venv-uv want; want=$(stamp_of requirements-uv.txt)
  if [ -x "$UV" ] && [ "$(cat "$dir/.lock.sha256" 2>/dev/null)" = "$want" ]; then return 0; fi
  echo "setting up $dir ..." >&2
  rm -rf "$dir"
  "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --only-binary :all: \
    -r requirements-uv.txt
  echo "$want" > "$dir/.lock.sha256"
}

make_venv() {  # make_venv DIR LOCKFILE
  local dir=$1 lock=$2 stamp="$1/.lock.sha256" want; want=$(stamp_of "$lock")
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  echo "setting up $dir ..."
  # Synced in place when only its lock changed; made anew when missing, made from another Python,
  # or made by pip (an older setup.sh).
  if [ "$(cut -d' ' -f2- "$stamp" 2>/dev/null)" != "$PY" ]; then
    "$UV" venv --quiet --clear --python "$PY" "$dir"
  fi
  "$UV" pip sync --quiet --python "$dir/bin/python" --require-hashes --strict "$lock"
  echo "$want" > "$stamp"
}

setup_uv
if [ "${1:-}" = "--uv" ]; then echo "$PWD/$UV"; exit 0; fi

make_venv .venv requirements-dev.txt
make_venv .venv-sam requirements-sam.txt
make_venv .venv-runtime requirements-runtime.txt
make_venv .venv-security requirements-security.txt
echo "environments ready (python: $PY)"
