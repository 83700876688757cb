"""Photos through the service's face path into scored pairs: what `face calibrate` and `face evaluate` share.

Every photo goes through the service's crop (MediaPipe, the dominant-face
policy, detection on a copy scaled to DETECTION_MAX_SIDE), SFace's alignment
and the ONNX network. NUAA live frames give identities (subject folders) and
sessions: a genuine pair is two frames of one person from different
sessions, an impostor pair two frames of different people. faces/master.csv
gives 300 labelled pairs of photos of public figures.
"""

from __future__ import annotations

import csv
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from functions.biometrics.face_alignment import ChipGeometry, align_face
from functions.biometrics.face_detection import crop_face
from functions.onnx_models import OnnxModel
from functions.settings import Settings

from ..common.images import read_rgb
from ..common.paths import CACHE_DIR

# NUAA subjects whose pairs choose the bands; the others give the reported figures.
CALIBRATION_SUBJECTS = ("0001", "0002", "0003", "0005", "0008", "0009")
FMR_TARGETS = (1e-2, 1e-3)
ENROLMENT_FRAMES = 5
ENROLMENT_SEED = 0  # draws of the enrolment frames for the service rule
# Calibration's review edge: the score that sends this share of impostor pairs to a person instead of rejecting them.
REVIEW_FMR = 1e-2


@dataclass
class Sample:
    path: Path
    person: str
    session: str
    reason: str | None = None
    flags: tuple[str, ...] = ()
    faces_found: int = 0
    embedding: np.ndarray | None = None


@dataclass(frozen=True)
class Embedder:
    model: OnnxModel
    geometry: ChipGeometry

    @classmethod
    def of(cls, model: OnnxModel) -> "Embedder":
        return cls(model, ChipGeometry.from_manifest(model.manifest))

    def embed(self, image: np.ndarray, keypoints) -> np.ndarray:
        chip = align_face(image, keypoints, self.geometry)
        return np.asarray(self.model.run_images([chip])[0], dtype=np.float64).reshape(-1)


def embed_sample(sample: Sample, image: np.ndarray, embedder: Embedder, settings: Settings) -> Sample:
    found = crop_face(
        image,
        min_score=settings.min_face_score,
        min_eye_distance_px=settings.min_eye_distance_px,
        multiple_faces=settings.multiple_faces,
    )
    sample.reason, sample.flags, sample.faces_found = found.reason, found.flags, found.faces_found
    if not found.reason:
        sample.embedding = embedder.embed(image, found.detection.keypoints)
    return sample


def nuaa_files(nuaa_dir: Path, people=None) -> list[Path]:
    """Live frames, <split>/live/<subject>/<subject>_<glasses>_<position>_<session>_<n>.jpg (of `people` when given)."""
    return [p for p in sorted(nuaa_dir.glob("*/live/*/*.jpg")) if people is None or p.parent.name in people]


def nuaa_samples(nuaa_dir: Path, model: OnnxModel, settings: Settings) -> list[Sample]:
    """Every NUAA live frame embedded, cached by the model's sha256 (model_export/cache, not in git)."""
    files = nuaa_files(nuaa_dir)
    cache = CACHE_DIR / f"face_nuaa_{model.manifest.sha256[:12]}_{len(files)}.pkl"
    if cache.is_file():
        return pickle.loads(cache.read_bytes())
    embedder, samples = Embedder.of(model), []
    for i, path in enumerate(files):
        parts = path.stem.split("_")
        samples.append(embed_sample(Sample(path, parts[0], parts[3]), read_rgb(path), embedder, settings))
        if i % 250 == 0:
            print(f"NUAA {i}/{len(files)}", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(samples))
    return samples


def unit_rows(e: np.ndarray) -> np.ndarray:
    return e / np.linalg.norm(e, axis=1, keepdims=True)


@dataclass
class PairSet:
    genuine: np.ndarray
    impostor: np.ndarray
    genuine_person: np.ndarray
    impostor_people: np.ndarray  # (n, 2)


def frame_pairs(samples: list[Sample]) -> PairSet:
    """Every cross-session same-person pair and every different-person pair of single frames (cosine)."""
    usable = [s for s in samples if s.embedding is not None]
    e = unit_rows(np.stack([s.embedding for s in usable]))
    person = np.array([s.person for s in usable])
    session = np.array([s.session for s in usable])
    scores = e @ e.T
    i, j = np.triu_indices(len(usable), 1)
    same, cross = person[i] == person[j], session[i] != session[j]
    g = same & cross
    return PairSet(scores[i, j][g], scores[i, j][~same], person[i][g], np.stack([person[i][~same], person[j][~same]], 1))


def enrolment_pairs(samples: list[Sample], *, frames: int = ENROLMENT_FRAMES, draws: int = 20, seed: int = ENROLMENT_SEED) -> PairSet:
    """The service's rule: a probe frame against the mean of `frames` enrolment frames from another session."""
    rng = np.random.default_rng(seed)
    usable = [s for s in samples if s.embedding is not None]
    e = unit_rows(np.stack([s.embedding for s in usable]))
    person = np.array([s.person for s in usable])
    session = np.array([s.session for s in usable])
    gen, imp, gp, ip = [], [], [], []
    for p in sorted(set(person)):
        for ses in sorted(set(session[person == p])):
            pool = np.where((person == p) & (session == ses))[0]
            if len(pool) < frames:
                continue
            for _ in range(draws):
                centre = e[rng.choice(pool, frames, replace=False)].mean(0)
                s = e @ centre / np.linalg.norm(centre)
                g_mask, i_mask = (person == p) & (session != ses), person != p
                gen.append(s[g_mask]), imp.append(s[i_mask])
                gp.append(np.full(g_mask.sum(), p)), ip.append(np.stack([np.full(i_mask.sum(), p), person[i_mask]], 1))
    return PairSet(np.concatenate(gen), np.concatenate(imp), np.concatenate(gp), np.concatenate(ip))


def rates(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, FMR, FNMR) with score >= threshold called a match, at every distinct score."""
    t = np.unique(np.concatenate([genuine, impostor, [np.inf]]))
    fnmr = np.searchsorted(np.sort(genuine), t, side="left") / len(genuine)
    fmr = 1.0 - np.searchsorted(np.sort(impostor), t, side="left") / len(impostor)
    return t, fmr, fnmr


def verification_summary(genuine: np.ndarray, impostor: np.ndarray) -> dict:
    _, fmr, fnmr = rates(genuine, impostor)
    k = int(np.argmin(np.abs(fmr - fnmr)))
    out = {"genuine_pairs": int(len(genuine)), "impostor_pairs": int(len(impostor)), "eer": round(float((fmr[k] + fnmr[k]) / 2), 5)}
    for target in FMR_TARGETS:
        ok = fmr <= target
        out[f"fnmr_at_fmr_{target:g}"] = round(float(fnmr[ok].min()) if ok.any() else 1.0, 5)
    return out


def threshold_at_fmr(impostor: np.ndarray, target: float) -> float:
    """The lowest score threshold whose FMR on these impostor scores is at most target."""
    s = np.sort(impostor)[::-1]
    k = int(np.floor(target * len(s)))  # at most k impostors may reach the threshold
    return float(s[k]) + 1e-9 if k < len(s) else float(s[-1])


def choose_bands(calibration_impostor: np.ndarray) -> dict:
    """Accept: above every calibration impostor (rounded up to 0.01); review: the calibration FMR 1e-2 edge."""
    accept = float(np.ceil(calibration_impostor.max() * 100) / 100)
    review = float(np.floor(threshold_at_fmr(calibration_impostor, REVIEW_FMR) * 1000) / 1000)
    return {"accept": accept, "review": review}


def band_outcomes(genuine: np.ndarray, impostor: np.ndarray, bands: dict) -> dict:
    a, r = bands["accept"], bands["review"]
    return {
        "genuine_accepted": round(float(np.mean(genuine >= a)), 5),
        "genuine_review": round(float(np.mean((genuine >= r) & (genuine < a))), 5),
        "genuine_rejected": round(float(np.mean(genuine < r)), 5),
        "impostor_accepted": int(np.sum(impostor >= a)),
        "impostor_review": int(np.sum((impostor >= r) & (impostor < a))),
        "impostor_rejected": int(np.sum(impostor < r)),
    }


def faces_pairs(faces_dir: Path) -> list[tuple[str, str, bool]]:
    """faces/master.csv: (photo, photo, same person)."""
    with open(faces_dir / "master.csv") as f:
        return [(r["file_x"], r["file_y"], r["Decision"].strip().lower() == "yes") for r in csv.DictReader(f)]


def faces_pair_scores(pairs, samples: dict[str, Sample]) -> tuple[np.ndarray, np.ndarray, int]:
    """(genuine cosines, impostor cosines, pairs missing a face)."""
    gen, imp, missing = [], [], 0
    for a, b, same in pairs:
        ea, eb = samples[a].embedding, samples[b].embedding
        if ea is None or eb is None:
            missing += 1
            continue
        (gen if same else imp).append(float(ea @ eb / np.linalg.norm(ea) / np.linalg.norm(eb)))
    return np.array(gen), np.array(imp), missing
