"""Real photos for the face tests: scikit-image's astronaut, matplotlib's Grace Hopper, and ../shared/data/faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scripts.sample_photos import astronaut, grace_hopper  # noqa: F401 - the tests import them from here

REPO_ROOT = Path(__file__).resolve().parent.parent
FACES_DIR = REPO_ROOT.parent / "shared" / "data" / "faces"
MODEL_DIR = REPO_ROOT / "models" / "face_embedding"


def coffee() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.coffee())


def read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def faces_dir_or_skip() -> Path:
    if not (FACES_DIR / "master.csv").is_file():
        pytest.skip(f"dataset folder {FACES_DIR} is absent (shared data not mounted)")
    return FACES_DIR


def model_dir_or_skip() -> Path:
    if not (MODEL_DIR / "manifest.json").is_file():
        pytest.skip(f"{MODEL_DIR} is not built (python -m model_export train-face)")
    return MODEL_DIR
