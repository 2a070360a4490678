#!/usr/bin/env bash
# Resolves every environment's lock file from its input with uv (`make lock`), or checks that the lock
# files are in sync with their inputs (`scripts/lock.sh --check`, part of `make lint`).
#
#   input (top-level packages)              lock (every package, pinned, with hashes)  installed into
#   requirements-uv.in                      requirements-uv.txt                        .venv-uv (by pip)
#   layers/voice_insights/requirements.in   layers/voice_insights/requirements.txt     the deployed layer (sam build's pip)
#   requirements-dev.in                     requirements-dev.txt                       .venv
#   requirements-sam.in                     requirements-sam.txt                       .venv-sam
#   requirements-runtime.in                 requirements-runtime.txt                   .venv-runtime
#   requirements-security.in                requirements-security.txt                  .venv-security
#
# One lock per environment: they cannot share one resolution (the SAM CLI and checkov pin boto3 and
# more to versions of their own). requirements-dev.in includes the layer's lock, so the tests run on
# exactly the versions that are deployed. Each lock is universal (any OS, Python 3.13: markers where
# a platform differs) and lists the hashes of every file of each pinned version.
#
# A re-run keeps every pin that its input still allows (the lock is its own preference); to move on:
#   make lock ARGS="--upgrade-package boto3"      one package (and what it needs)
#   make lock ARGS=--upgrade                      everything, to the newest versions the inputs allow
# --check (`make lock-check`, part of `make test`) resolves each input again into a temporary file and
# fails on any difference. It reads the package index (uv's cache where fresh): with uv's --offline it
# works from the cache alone, but only once a resolution filled it (`make lock`, `make lock-check`):
# `uv pip sync` caches the files it installs, not the metadata a resolution reads, nor the packages of
# other platforms that a universal lock names. So a fresh machine needs the network for it.
#   scripts/lock.sh --check --offline
set -euo pipefail
cd "$(dirname "$0")/.."

LOCKS=(
  requirements-uv
  layers/voice_insights/requirements  # before requirements-dev, which includes it
  requirements-dev
  requirements-sam
  requirements-runtime
  requirements-security
)

check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi

UV=$(scripts/setup.sh --uv)
compile() {  # compile INPUT OUTPUT [uv pip compile options...]
  local in=$1 out=$2; shift 2
  "$UV" pip compile --quiet --universal --python-version 3.13 --generate-hashes \
    --custom-compile-command "make lock" "$in" --output-file "$out" "$@"
}

if [ $check = 0 ]; then
  for lock in "${LOCKS[@]}"; do
    compile "$lock.in" "$lock.txt" "$@"
    echo "$lock.txt"
  done
  exit 0
fi

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
stale=0
for lock in "${LOCKS[@]}"; do
  cp "$lock.txt" "$tmp/lock.txt"  # the current pins are the preferences, as when `make lock` runs
  if ! compile "$lock.in" "$tmp/lock.txt" "$@"; then
    echo "lock check: could not resolve $lock.in (with --offline: uv's cache lacks what that needs)" >&2
    exit 2
  fi
  if ! diff -u --label "$lock.txt" --label "$lock.txt (resolved from $lock.in)" "$lock.txt" "$tmp/lock.txt"; then
    stale=1
  fi
done
if [ $stale = 1 ]; then
  echo "lock files out of sync with their inputs: run 'make lock' and commit the result" >&2
  exit 1
fi
echo "lock files in sync with their inputs (${#LOCKS[@]})"
