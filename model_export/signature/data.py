"""The four signature sets as training and evaluation see them: files, the fixed writer splits, cached canvases.

Every set is `<set>/<writer>/{genuine,forged}/*.png` under the data folder
(writer ids never repeat across sets). Each set's writers are split once
into train / validation / test (`splits.json`, committed beside this module,
made by `make_splits` with its seed); figures are reported on test writers
only. Two protocols use the other writers (the development writers):

- fixed split: the network learns from training writers; rules,
  calibration and thresholds are chosen on validation writers;
- folds (`fold_writers`): the development writers of each set are dealt
  into N_FOLDS writer-disjoint folds; one network per fold learns from the
  other folds and scores its own fold (out-of-fold scores of every
  development writer choose the rules, calibration and thresholds), and the
  final network learns from all development writers.

Canvases are made by the service's own preprocessing
(functions.biometrics.signature_preparation.py), so training and serving see
the same input; they are cached once per version of that module.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from functions.biometrics import signature_preparation as signature_preprocessing
from functions.biometrics.signature_preparation import SignatureImageError, prepare_signature

from ..common.paths import CACHE_DIR, SHARED_DATA

DEFAULT_DATA = SHARED_DATA / "signatures"
SPLITS_FILE = Path(__file__).with_name("splits.json")
SETS = {"sign_data": "Latin (Dutch)", "bhsig_bengali": "Bengali", "bhsig_hindi": "Devanagari (Hindi)", "cedar": "Latin (English)"}
SPLIT_SEED = 2026
SPLIT_FRACTIONS = (0.6, 0.15, 0.25)  # train, validation, test writers of each set
N_FOLDS = 4  # writer-disjoint folds of the development (train + validation) writers
FOLD_SEED = 2027


@dataclass
class SignatureSet:
    """Every image as a canvas with its set, writer and genuine/forged label (arrays aligned by index)."""

    canvases: np.ndarray  # (N, H, W) uint8
    sets: np.ndarray  # (N,) str
    writers: np.ndarray  # (N,) str
    genuine: np.ndarray  # (N,) bool
    paths: np.ndarray  # (N,) str, relative to the data folder

    def take(self, idx: np.ndarray) -> "SignatureSet":
        return SignatureSet(self.canvases[idx], self.sets[idx], self.writers[idx], self.genuine[idx], self.paths[idx])

    def of_writers(self, writers) -> "SignatureSet":
        return self.take(np.flatnonzero(np.isin(self.writers, list(writers))))


def read_gray(path: Path) -> np.ndarray:
    """8-bit grey via Pillow (quiet about scans' colour profiles)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def list_files(root: Path) -> list[tuple[str, str, bool, Path]]:
    files = []
    for name in SETS:
        for writer_dir in sorted(p for p in (root / name).iterdir() if p.is_dir()):
            for kind, genuine in (("genuine", True), ("forged", False)):
                for path in sorted((writer_dir / kind).glob("*.png")):
                    files.append((name, writer_dir.name, genuine, path))
    return files


def make_splits(root: Path, seed: int = SPLIT_SEED) -> dict:
    """How splits.json was made: each set's writers shuffled with the seed, then cut by SPLIT_FRACTIONS."""
    splits = {"seed": seed, "fractions": list(SPLIT_FRACTIONS), "sets": {}}
    for name in SETS:
        writers = sorted(p.name for p in (root / name).iterdir() if p.is_dir())
        random.Random(f"{seed}:{name}").shuffle(writers)
        n_test = round(len(writers) * SPLIT_FRACTIONS[2])
        n_val = round(len(writers) * SPLIT_FRACTIONS[1])
        splits["sets"][name] = {
            "script": SETS[name].split(" ")[0],
            "train": sorted(writers[n_test + n_val :]),
            "val": sorted(writers[n_test : n_test + n_val]),
            "test": sorted(writers[:n_test]),
        }
    return splits


def load_splits(path: Path = SPLITS_FILE) -> dict:
    return json.loads(Path(path).read_text())


def writers_of(splits: dict, part: str, sets=None) -> list[str]:
    """The writers of one part ("train", "val" or "test") of the given sets (all sets by default)."""
    return [w for name, s in splits["sets"].items() if sets is None or name in sets for w in s[part]]


def development_writers(splits: dict, sets=None) -> list[str]:
    """Every writer that is not a test writer (train and validation of splits.json)."""
    return writers_of(splits, "train", sets) + writers_of(splits, "val", sets)


def fold_writers(splits: dict, fold: int, sets=None, n_folds: int = N_FOLDS, seed: int = FOLD_SEED) -> list[str]:
    """The development writers of one fold: each set's development writers shuffled with the seed and dealt round-robin,
    so every fold holds about 1/n_folds of every set."""
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in 0..{n_folds - 1}, got {fold}")
    out: list[str] = []
    for name in splits["sets"]:
        if sets is not None and name not in sets:
            continue
        writers = sorted(development_writers(splits, [name]))
        random.Random(f"{seed}:{name}").shuffle(writers)
        out += writers[fold::n_folds]
    return sorted(out)


def default_cache() -> Path:
    version = hashlib.sha256(Path(signature_preprocessing.__file__).read_bytes()).hexdigest()[:12]
    return CACHE_DIR / "signature" / f"canvases-{version}.npz"


def build_cache(root: Path, out: Path) -> dict:
    """Preprocess every image once; an image the service would refuse is listed with its reason, not cached."""
    canvases, meta, unusable = [], [], []
    for name, writer, genuine, path in list_files(root):
        try:
            canvases.append(prepare_signature(read_gray(path)))
        except SignatureImageError as exc:
            unusable.append((str(path.relative_to(root)), exc.code))
            continue
        meta.append((name, writer, genuine, str(path.relative_to(root))))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, canvases=np.stack(canvases), sets=np.array([m[0] for m in meta]), writers=np.array([m[1] for m in meta]),
                        genuine=np.array([m[2] for m in meta]), paths=np.array([m[3] for m in meta]))
    return {"images": len(canvases), "unusable": unusable}


def variant_cache(base_cache: Path, capture: str) -> Path:
    return base_cache.with_name(base_cache.stem + f"-{capture}.npz")


def build_variant_cache(root: Path, base: SignatureSet, capture: str, writers, out: Path) -> dict:
    """Every image of `writers` rendered as `capture` (capture.py; seeded per image) and preprocessed by the service.

    Aligned with `base`: images of other writers, and renderings the service
    refuses, keep their scanned canvas and are marked invalid.
    """
    from .capture import CAPTURES

    render = CAPTURES[capture]
    canvases, valid = base.canvases.copy(), np.zeros(len(base.paths), bool)
    wanted = set(writers)
    for i, rel in enumerate(base.paths):
        if base.writers[i] not in wanted:
            continue
        seed = int.from_bytes(hashlib.sha256(f"{capture}:{rel}".encode()).digest()[:8], "little")
        try:
            canvases[i] = prepare_signature(render(read_gray(root / rel), np.random.default_rng(seed)))
            valid[i] = True
        except SignatureImageError:
            pass
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, canvases=canvases, valid=valid, paths=base.paths)
    return {"capture": capture, "rendered": int(valid.sum()), "refused": int(sum(w in wanted for w in base.writers) - valid.sum())}


def load_variant(root: Path, base: SignatureSet, base_cache: Path, capture: str, writers) -> tuple[np.ndarray, np.ndarray]:
    """(canvases, valid) of a capture variant aligned with `base`, built on first use."""
    path = variant_cache(base_cache, capture)
    if not path.is_file():
        print(json.dumps(build_variant_cache(root, base, capture, writers, path)), flush=True)
    with np.load(path, allow_pickle=False) as z:
        assert np.array_equal(z["paths"], base.paths), f"{path} is not aligned with the canvas cache"
        return z["canvases"], z["valid"]


def load_signatures(root: Path = DEFAULT_DATA, cache: Path | None = None) -> SignatureSet:
    cache = cache or default_cache()
    if not cache.is_file():
        print(json.dumps(build_cache(root, cache)))
    with np.load(cache, allow_pickle=False) as z:
        return SignatureSet(z["canvases"], z["sets"], z["writers"], z["genuine"], z["paths"])
