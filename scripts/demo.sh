#!/usr/bin/env bash
# One command on a fresh machine: set up the service and the test tools (.venv, Azurite for the tests), then run
# the main job on the embedded default. The training stack is separate: model_export/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

python_env requirements-dev.txt
node_modules
step "running the demo (scripts/demo.py)"
exec .venv/bin/python scripts/demo.py "$@"
