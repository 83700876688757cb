#!/usr/bin/env bash
# One command on a fresh machine: set up everything (virtual environment, dependencies, Azurite for the
# tests) and run the main job on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet -r requirements-dev.txt
if [ ! -x node_modules/.bin/azurite ] && command -v npm >/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec .venv/bin/python scripts/demo.py "$@"
