"""The signature data set as the trainers see it: files, a writer-disjoint split, canvases.

Layout (SigComp2011 Dutch offline via Kaggle "sign_data"):
`<root>/<writer>/genuine/*.png` and `<root>/<writer>/forged/*.png` (skilled
forgeries of that writer by other people). Splits are by writer, so the
writers we test on were never seen in training.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from functions.imaging import signature_preprocessing
from functions.imaging.signature_preprocessing import prepare_signature

from ..common.paths import SHARED_DATA

DEFAULT_DATA = SHARED_DATA / "signatures" / "sign_data"
DEFAULT_WORK_DIR = Path.home() / ".cache" / "bioauth" / "signature"

SPLIT_SEED = 2011
TEST_WRITERS = 12
VAL_WRITERS = 8


@dataclass(frozen=True)
class SignatureFile:
    path: Path
    writer: str
    genuine: bool


@dataclass(frozen=True)
class WriterSplit:
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"seed": SPLIT_SEED, "train": list(self.train), "val": list(self.val), "test": list(self.test)}


def list_signatures(root: Path) -> list[SignatureFile]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"signature data not found at {root}")
    files = []
    for writer_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for kind, genuine in (("genuine", True), ("forged", False)):
            for path in sorted((writer_dir / kind).glob("*.png")):
                files.append(SignatureFile(path, writer_dir.name, genuine))
    return files


def split_writers(writers: list[str], seed: int = SPLIT_SEED) -> WriterSplit:
    """Fixed, seeded writer-disjoint split: test, validation (threshold calibration), train."""
    order = sorted(set(writers))
    random.Random(seed).shuffle(order)
    test = tuple(sorted(order[:TEST_WRITERS]))
    val = tuple(sorted(order[TEST_WRITERS : TEST_WRITERS + VAL_WRITERS]))
    train = tuple(sorted(order[TEST_WRITERS + VAL_WRITERS :]))
    return WriterSplit(train=train, val=val, test=test)


def read_gray(path: Path) -> np.ndarray:
    """8-bit grayscale via Pillow (quiet about the scans' colour profiles, unlike libpng through OpenCV)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


@dataclass
class SignatureSet:
    """Every image as a canvas, with writer and genuine/forged labels (arrays aligned by index)."""

    canvases: np.ndarray  # (N, H, W) uint8
    writers: np.ndarray  # (N,) str
    genuine: np.ndarray  # (N,) bool
    paths: list[str]

    def subset(self, writers: tuple[str, ...]) -> "SignatureSet":
        idx = np.flatnonzero(np.isin(self.writers, list(writers)))
        return SignatureSet(self.canvases[idx], self.writers[idx], self.genuine[idx], [self.paths[i] for i in idx])


def load_signature_set(root: Path, cache_dir: Path | None = DEFAULT_WORK_DIR) -> SignatureSet:
    """Preprocess every image once; the canvases are cached outside the repository."""
    from tqdm import tqdm

    files = list_signatures(root)
    key = hashlib.sha256(
        ("\n".join(f"{f.path.relative_to(root)}:{f.path.stat().st_size}" for f in files)).encode()
        + Path(signature_preprocessing.__file__).read_bytes()
    ).hexdigest()[:16]
    cache = Path(cache_dir) / f"canvases-{key}.npz" if cache_dir else None
    if cache and cache.is_file():
        data = np.load(cache, allow_pickle=False)
        return SignatureSet(data["canvases"], data["writers"], data["genuine"], list(data["paths"]))
    canvases = [prepare_signature(read_gray(f.path)) for f in tqdm(files, desc="preprocess signatures", unit="img")]
    result = SignatureSet(
        np.stack(canvases),
        np.array([f.writer for f in files]),
        np.array([f.genuine for f in files]),
        [str(f.path.relative_to(root)) for f in files],
    )
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, canvases=result.canvases, writers=result.writers, genuine=result.genuine, paths=np.array(result.paths))
    return result
