# Setup steps shared by scripts/demo.sh and .ci/run (sourced, not run). Each step prints a line with the time
# since the start, and skips what is already right: the Python packages when the requirements files are unchanged
# since the last install into .venv, node_modules when it was installed from the current package-lock.json.

SETUP_START=$SECONDS
step() { printf '[%3d s] %s\n' "$((SECONDS - SETUP_START))" "$*"; }

# The hash of the requirements files (and the local stand-in packages they install) behind an install.
requirements_hash() {
  { cat "$@" requirements.txt requirements-base.txt requirements-dev.txt model_export/requirements.txt \
      packaging/*/pyproject.toml client/pyproject.toml 2>/dev/null || true; } | sha256sum | cut -d' ' -f1
}

# python_env REQUIREMENTS_FILE...: .venv with these installed, pip check clean. Quiet: pip's own output goes to
# .venv/pip.log; a line per package downloaded or taken from the cache shows that it moves.
python_env() {
  local stamp=.venv/.requirements.sha256 want args=()
  want="$(printf '%s ' "$@")$(requirements_hash "$@")"
  if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    step "python packages: up to date ($*)"
    return
  fi
  if [ ! -x .venv/bin/python ]; then
    step "creating .venv"
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip >.venv/pip.log 2>&1
  fi
  for f in "$@"; do args+=(-r "$f"); done
  step "installing the python packages of $* (log: .venv/pip.log)"
  # --no-compile: bytecode is written on first import, for the modules used, not for all of site-packages (~190 MB).
  local name
  if ! .venv/bin/python -m pip install --no-compile --progress-bar off "${args[@]}" 2>&1 | tee -a .venv/pip.log |
    while IFS= read -r line; do
      case "$line" in
        Collecting*) name="${line#Collecting }"; printf '          %s\n' "${name%% (from*}" ;;
        "Installing collected packages"*) step "unpacking into .venv" ;;
      esac
    done; then
    echo "pip install failed; see .venv/pip.log" >&2
    return 1
  fi
  .venv/bin/python -m pip check
  echo "$want" >"$stamp"
  step "python packages installed ($(du -sh .venv | cut -f1) in .venv)"
}

# node_modules from package-lock.json (Azurite for the tests; the browser test's driver), unless already installed
# from this very lock file.
node_modules() {
  local stamp=node_modules/.package-lock.sha256 want
  want="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    step "node_modules: up to date with package-lock.json"
    return
  fi
  if ! command -v npm >/dev/null; then
    step "npm not found: skipping node_modules (the Azurite and browser tests will skip)"
    return
  fi
  step "npm ci (package-lock.json changed or node_modules absent)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
}
