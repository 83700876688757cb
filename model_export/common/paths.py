"""Where training reads data and writes its work: one definition for every model."""

from __future__ import annotations

from functions.settings import REPO_ROOT

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"  # training data is read from here (or a path on the command line), never copied
MODELS_DIR = REPO_ROOT / "models"  # the shipped models
RUNS_DIR = REPO_ROOT / "model_export" / "runs"  # training runs (not in git)
CACHE_DIR = REPO_ROOT / "model_export" / "cache"  # preprocessed data (not in git)
