"""`python -m model_export evaluate-face`: dlib, SFace and their fusion on the same photos, through the service's path.

Every photo goes through the service's crop (MediaPipe, the dominant-face
policy, detection on a copy scaled to DETECTION_MAX_SIDE), then each model's
alignment and network. Three test sets:

(a) NUAA live frames, cross-session: identities are the subject folders; a
    pair is one frame of a session against one frame of another session of the
    same person (genuine), or frames of two people (impostor). The subjects are
    split in two: CALIBRATION_SUBJECTS choose every threshold, band and fusion
    weight; the others give the reported figures, which nothing is tuned on.
    The service's own rule (a probe against the mean of 5 enrolment frames of
    another session) is reported beside single-frame pairs.
(b) faces/master.csv: 300 labelled pairs of photos of public figures.
(c) large photos: the faces/ photos above 2 MP, detected at full size and on
    the scaled copy the service uses.

Writes models/face_sface/REPORT.md, DET plots and the bands and metrics into
its manifest.
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from functions.biometrics.face_detection import crop_face, detect_faces
from functions.biometrics.face_alignment import ChipGeometry, align_face, sface_geometry, similarity_transform, warp_to_chip
from functions.manifests import MANIFEST_FILE, ModelManifest, write_manifest
from functions.onnx_models import OnnxModel
from functions.settings import Settings

from ..common.paths import CACHE_DIR, MODELS_DIR, SHARED_DATA
from .alignment import read_rgb

SFACE, DLIB, FUSION, SFACE_MESH = "sface", "dlib", "fusion", "sface_mesh5"
CALIBRATION_SUBJECTS = ("0001", "0002", "0003", "0005", "0008", "0009")
FMR_TARGETS = (1e-2, 1e-3)
ENROLMENT_FRAMES = 5
FUSION_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)  # weight of dlib's normalised score
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
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Embedder:
    name: str
    model: OnnxModel
    geometry: ChipGeometry

    def embed(self, image: np.ndarray, keypoints) -> np.ndarray:
        chip = align_face(image, keypoints, self.geometry)
        return np.asarray(self.model.run_images([chip])[0], dtype=np.float64).reshape(-1)


def mesh_five_points(image: np.ndarray, box) -> np.ndarray | None:
    """Eye centres (iris), nose tip and mouth corners from MediaPipe's face mesh, run on the face's region."""
    import cv2
    import mediapipe as mp

    global _mesh
    if "_mesh" not in globals():
        _mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
    x, y, w, h = box
    cx, cy, side = x + w / 2, y + h / 2, max(w, h) * 1.8
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    region = image[y0 : int(min(image.shape[0], cy + side / 2)), x0 : int(min(image.shape[1], cx + side / 2))]
    f = min(1.0, 512 / max(region.shape[:2]))
    small = cv2.resize(region, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else region
    found = _mesh.process(np.ascontiguousarray(small))
    if not found.multi_face_landmarks:
        return None
    lm = found.multi_face_landmarks[0].landmark
    point = lambda i: np.array([lm[i].x * small.shape[1] / f + x0, lm[i].y * small.shape[0] / f + y0])
    by_x = lambda a, b: (a, b) if a[0] < b[0] else (b, a)
    right_eye, left_eye = by_x(point(468), point(473))
    mouth_right, mouth_left = by_x(point(61), point(291))
    return np.array([right_eye, left_eye, point(1), mouth_right, mouth_left])


def embed_sample(sample: Sample, image: np.ndarray, embedders: list[Embedder], settings: Settings, mesh: bool) -> Sample:
    found = crop_face(
        image,
        min_score=settings.min_face_score,
        min_eye_distance_px=settings.min_eye_distance_px,
        multiple_faces=settings.multiple_faces,
    )
    sample.reason, sample.flags, sample.faces_found = found.reason, found.flags, found.faces_found
    if found.reason:
        return sample
    for e in embedders:
        sample.embeddings[e.name] = e.embed(image, found.detection.keypoints)
    if mesh:
        points = mesh_five_points(image, found.detection.box)
        if points is not None:
            sface = next(e for e in embedders if e.name == SFACE)
            reference = np.array(list(sface_geometry(("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")).reference.values())) * 112
            chip = warp_to_chip(image, similarity_transform(points, reference), 112, antialias=False)
            sample.embeddings[SFACE_MESH] = np.asarray(sface.model.run_images([chip])[0], dtype=np.float64).reshape(-1)
    return sample


def nuaa_samples(nuaa_dir: Path) -> list[Sample]:
    """Live frames: <split>/live/<subject>/<subject>_<glasses>_<position>_<session>_<n>.jpg."""
    out = []
    for path in sorted(nuaa_dir.glob("*/live/*/*.jpg")):
        parts = path.stem.split("_")
        out.append(Sample(path=path, person=parts[0], session=parts[3]))
    return out


# --- scores and rates -------------------------------------------------------------------------


def unit_rows(e: np.ndarray) -> np.ndarray:
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def score_matrix(kind: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Higher is more alike: cosine for SFace, minus the Euclidean distance for dlib."""
    if kind == DLIB:
        return -np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    return unit_rows(a) @ unit_rows(b).T


@dataclass
class PairSet:
    genuine: np.ndarray
    impostor: np.ndarray
    genuine_person: np.ndarray
    impostor_people: np.ndarray  # (n, 2)


def frame_pairs(samples: list[Sample], kind: str) -> PairSet:
    """Every cross-session same-person pair and every different-person pair of single frames."""
    usable = [s for s in samples if kind in s.embeddings]
    e = np.stack([s.embeddings[kind] for s in usable])
    person = np.array([s.person for s in usable])
    session = np.array([s.session for s in usable])
    scores = score_matrix(kind, e, e)
    i, j = np.triu_indices(len(usable), 1)
    same, cross = person[i] == person[j], session[i] != session[j]
    g = same & cross
    return PairSet(scores[i, j][g], scores[i, j][~same], person[i][g], np.stack([person[i][~same], person[j][~same]], 1))


def enrolment_pairs(samples: list[Sample], kind: str, *, frames: int = ENROLMENT_FRAMES, draws: int = 20, seed: int = 0) -> PairSet:
    """The service's rule: a probe frame against the mean of `frames` enrolment frames from another session."""
    rng = np.random.default_rng(seed)
    usable = [s for s in samples if kind in s.embeddings]
    e = np.stack([s.embeddings[kind] for s in usable])
    if kind != DLIB:
        e = unit_rows(e)
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
                s = -np.linalg.norm(e - centre, axis=1) if kind == DLIB else e @ centre / np.linalg.norm(centre)
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


# --- fusion ------------------------------------------------------------------------------------


def fusion_pairs(samples: list[Sample], norm: dict, weight: float) -> PairSet:
    sf, dl = frame_pairs(samples, SFACE), frame_pairs(samples, DLIB)
    z = lambda p, k: ((p.genuine - norm[k][0]) / norm[k][1], (p.impostor - norm[k][0]) / norm[k][1])
    (sg, si), (dg, di) = z(sf, SFACE), z(dl, DLIB)
    return PairSet((1 - weight) * sg + weight * dg, (1 - weight) * si + weight * di, sf.genuine_person, sf.impostor_people)


def d_prime(genuine: np.ndarray, impostor: np.ndarray) -> float:
    return float((genuine.mean() - impostor.mean()) / np.sqrt((genuine.var() + impostor.var()) / 2))


# --- faces/ pairs and large photos -------------------------------------------------------------


def faces_pairs(faces_dir: Path) -> list[tuple[str, str, bool]]:
    with open(faces_dir / "master.csv") as f:
        return [(r["file_x"], r["file_y"], r["Decision"].strip().lower() == "yes") for r in csv.DictReader(f)]


def faces_pair_scores(pairs, samples: dict[str, Sample], kind: str) -> tuple[np.ndarray, np.ndarray, int]:
    gen, imp, missing = [], [], 0
    for a, b, same in pairs:
        ea, eb = samples[a].embeddings.get(kind), samples[b].embeddings.get(kind)
        if ea is None or eb is None:
            missing += 1
            continue
        (gen if same else imp).append(float(score_matrix(kind, ea[None], eb[None])[0, 0]))
    return np.array(gen), np.array(imp), missing


LARGE_SIDE = 4000  # a phone photo's longer side


def large_photo_pairs(faces_dir: Path, pairs, sface: Embedder, settings: Settings) -> dict:
    """The labelled pairs with every photo resized to a LARGE_SIDE px longer side, detected at full size and scaled."""
    import cv2

    names = sorted({n for a, b, _ in pairs for n in (a, b)})
    out = {}
    for label, max_side in (("detected_on_scaled_copy", None), ("detected_at_full_size", 10**6)):
        samples = {}
        for name in names:
            image = read_rgb(faces_dir / name)
            f = LARGE_SIDE / max(image.shape[:2])
            image = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA)
            kw = {} if max_side is None else {"detection_max_side": max_side}
            found = crop_face(image, min_score=settings.min_face_score, min_eye_distance_px=settings.min_eye_distance_px,
                              multiple_faces=settings.multiple_faces, **kw)
            sample = Sample(faces_dir / name, name, "", reason=found.reason)
            if found.ok:
                sample.embeddings[SFACE] = sface.embed(image, found.detection.keypoints)
            samples[name] = sample
        g, i, missing = faces_pair_scores(pairs, samples, SFACE)
        out[label] = {"failed_photos": sorted(n for n, s in samples.items() if s.reason), "pairs_missing": missing,
                      "genuine_min": round(float(g.min()), 4) if len(g) else None,
                      "impostor_max": round(float(i.max()), 4) if len(i) else None, "scores": (g, i)}
    return out


def large_photo_check(faces_dir: Path, names: list[str], sface: Embedder, settings: Settings) -> dict:
    """Detection at full size against the scaled copy: keypoint shift (share of the inter-eye distance) and embedding change."""
    rows = []
    for name in names:
        image = read_rgb(faces_dir / name)
        if image.shape[0] * image.shape[1] < 2_000_000:
            continue
        full = [f for f in detect_faces(image, max_side=10**6) if f.score >= settings.min_face_score]
        scaled = [f for f in detect_faces(image) if f.score >= settings.min_face_score]
        row = {"photo": name, "size": f"{image.shape[1]}x{image.shape[0]}", "faces_full": len(full), "faces_scaled": len(scaled)}
        if full and scaled:
            a, b = full[0], scaled[0]
            shift = max(float(np.hypot(*np.subtract(a.keypoints[k], b.keypoints[k]))) for k in a.keypoints)
            ea, eb = sface.embed(image, a.keypoints), sface.embed(image, b.keypoints)
            row["keypoint_shift"] = round(shift / b.inter_eye_px, 4)
            row["cosine_full_vs_scaled"] = round(float(ea @ eb / np.linalg.norm(ea) / np.linalg.norm(eb)), 4)
        rows.append(row)
    return {"photos": rows}


# --- plots and report --------------------------------------------------------------------------


def plot_det(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ticks = [1e-4, 1e-3, 1e-2, 5e-2, 0.2, 0.5]
    clip = lambda v: norm.ppf(np.clip(v, 1e-5, 1 - 1e-5))
    for (label, (genuine, impostor)), style in zip(curves.items(), ("-", "-", "--", ":", "-.")):
        _, fmr, fnmr = rates(genuine, impostor)
        ax.plot(clip(fmr), clip(fnmr), style, label=label)
    ax.set_xticks(clip(np.array(ticks)), [f"{t:g}" for t in ticks])
    ax.set_yticks(clip(np.array(ticks)), [f"{t:g}" for t in ticks])
    ax.set_xlim(clip(1e-5), clip(0.5))
    ax.set_ylim(clip(1e-5), clip(0.5))
    ax.set_xlabel("false match rate")
    ax.set_ylabel("false non-match rate")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scores(genuine: np.ndarray, impostor: np.ndarray, bands: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(-0.3, 1.0, 131)
    ax.hist(impostor, bins=bins, density=True, alpha=0.6, label="different people")
    ax.hist(genuine, bins=bins, density=True, alpha=0.6, label="same person")
    ax.axvline(bands["review"], color="orange", ls="--", label=f"review from {bands['review']:.3f}")
    ax.axvline(bands["accept"], color="green", ls="--", label=f"accept from {bands['accept']:.2f}")
    ax.set_yscale("log")
    ax.set_xlabel("cosine similarity (SFace)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pct(v: float) -> str:
    return f"{v * 100:.2f} %"


def write_report(results: dict, path: Path) -> None:
    """REPORT.md from the evaluation's figures (evaluation.json beside the plots holds all of them)."""
    r = results
    cs, en = r["nuaa_cross_session"], r["nuaa_cross_session_enrolment_rule"][SFACE]
    lines = [
        "# face_sface: evaluation report",
        "",
        "Generated by `python -m model_export evaluate-face` (model_export/face/compare.py); every figure is in",
        "`report/evaluation.json`. Photos go through the service's own crop (MediaPipe, dominant-face policy,",
        "detection on a copy scaled to at most 1024 px) and each model's alignment.",
        "",
        "## Protocol",
        "",
        f"- NUAA live frames, identities = subject folders. Calibration subjects {', '.join(r['protocol']['calibration_subjects'])}"
        " choose the bands and the fusion weight; the figures below are on the other subjects"
        f" ({', '.join(r['protocol']['reported_subjects'])}), which nothing was tuned on.",
        f"- Pairs: {r['protocol']['pairs']}. Service rule: {r['protocol']['enrolment_rule']}.",
        "- faces/master.csv: 300 labelled pairs (38 same, 262 different) of photos of public figures.",
        "",
        "## NUAA cross-session (reported subjects)",
        "",
        "| model | genuine pairs | impostor pairs | EER | FNMR at FMR 1e-2 | FNMR at FMR 1e-3 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    names = {SFACE: "SFace (served)", DLIB: "dlib ResNet (previous model)", FUSION: f"fusion (dlib weight {r['fusion']['weight_of_dlib']:g}, chosen on calibration)",
             SFACE_MESH: "SFace aligned on the face mesh's five points"}
    for k, v in cs.items():
        lines.append(f"| {names.get(k, k)} | {v['genuine_pairs']} | {v['impostor_pairs']} | {pct(v['eer'])} | {pct(v['fnmr_at_fmr_0.01'])} | {pct(v['fnmr_at_fmr_0.001'])} |")
    lines.append(f"| SFace, service rule (mean of {ENROLMENT_FRAMES} enrolment frames) | {en['genuine_pairs']} | {en['impostor_pairs']} | "
                 f"{pct(en['eer'])} | {pct(en['fnmr_at_fmr_0.01'])} | {pct(en['fnmr_at_fmr_0.001'])} |")
    lines += ["", "![DET](report/det_nuaa_cross_session.png)", "", "Fusion grid (z-scores on calibration impostors; d' on calibration chooses the weight):", "",
              "| dlib weight | calibration d' | reported EER | reported FNMR at 1e-3 |", "| --- | --- | --- | --- |"]
    for w, v in r["fusion"]["grid"].items():
        lines.append(f"| {w} | {v['calibration_d_prime']} | {pct(v['reported']['eer'])} | {pct(v['reported']['fnmr_at_fmr_0.001'])} |")
    b = r["bands"]
    lines += ["", f"## Bands: accept at cosine >= {b['accept']}, review from {b['review']}, reject below", "",
              "| data | genuine accepted | genuine to review | genuine rejected | impostors accepted | impostors to review | impostors rejected |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, key in (("NUAA calibration subjects (chose the bands)", "bands_on_calibration"),
                       ("NUAA reported subjects, single frames", "bands_on_nuaa_cross_session"),
                       ("NUAA reported subjects, service rule", "bands_on_nuaa_enrolment_rule")):
        o = r[key]
        lines.append(f"| {label} | {pct(o['genuine_accepted'])} | {pct(o['genuine_review'])} | {pct(o['genuine_rejected'])} | "
                     f"{o['impostor_accepted']} | {o['impostor_review']} | {o['impostor_rejected']} |")
    fo = r["faces_pairs"][SFACE]["bands"]
    lines.append(f"| faces/master.csv | {pct(fo['genuine_accepted'])} | {pct(fo['genuine_review'])} | {pct(fo['genuine_rejected'])} | "
                 f"{fo['impostor_accepted']} | {fo['impostor_review']} | {fo['impostor_rejected']} |")
    lines += ["", "Impostor pairs accepted on the reported subjects, by pair of people: "
              + ", ".join(f"{k}: {v}" for k, v in sorted(r["impostor_pairs_accepted_by_people"].items(), key=lambda kv: -kv[1])),
              "", "![scores](report/scores_nuaa_cross_session.png)", "", "## Per subject (reported subjects, single frames)", "",
              "| subject | genuine pairs | EER | FNMR at 1e-3 | lowest genuine | genuine accepted | impostor pairs | highest impostor | impostors accepted |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for person, v in r["per_subject"].items():
        if "genuine_pairs" in v:
            lines.append(f"| {person} | {v['genuine_pairs']} | {pct(v['eer'])} | {pct(v['fnmr_at_fmr_0.001'])} | {v['genuine_min']} | "
                         f"{pct(v['genuine_accepted'])} | {v['impostor_pairs']} | {v['impostor_max']} | {v['impostors_accepted']} |")
        else:
            lines.append(f"| {person} | - (one session) | | | | | {v['impostor_pairs']} | {v['impostor_max']} | {v['impostors_accepted']} |")
    a = r["acquisition"]
    f = r["faces_pairs"]
    lines += ["", "## Failure to acquire", "",
              f"{a['failed']} of {a['frames']} NUAA live frames gave no usable face. {a['with_other_faces']} frames show more than one"
              f" face (people behind the subject); in {a['other_faces_ignored']} of them another face was confident enough to count, the"
              " subject's face was dominant and taken, and the frame flagged `other_faces_ignored` (policy 'reject' would have refused them).",
              "", "## faces/master.csv (300 pairs)", "", "| model | right at the accept edge | lowest genuine | highest impostor | EER |", "| --- | --- | --- | --- | --- |",
              f"| SFace | {f[SFACE]['correct_at_accept']}/300 | {f[SFACE]['genuine_min']} | {f[SFACE]['impostor_max']} | {pct(f[SFACE]['eer'])} |",
              f"| dlib ResNet (score = minus distance) | - | {f[DLIB]['genuine_min']} | {f[DLIB]['impostor_max']} | {pct(f[DLIB]['eer'])} |",
              "", "![faces](report/scores_faces_pairs.png)", "", "## Large photos", "",
              "The 300 pairs with every photo resized to a 4000 px longer side:", "",
              "| detection | photos without a face | right at the accept edge | lowest genuine | highest impostor |", "| --- | --- | --- | --- | --- |"]
    for label, v in r["large_photos"]["faces_pairs_at_4000px"].items():
        lines.append(f"| {label.replace('_', ' ')} | {len(v['failed_photos'])} | {v['correct_at_accept']}/300 | {v['genuine_min']} | {v['impostor_max']} |")
    photos = [x for x in r["large_photos"]["photos"] if "keypoint_shift" in x]
    if photos:
        shifts = [x["keypoint_shift"] for x in photos]
        cos = [x["cosine_full_vs_scaled"] for x in photos]
        lines += ["", f"The {len(photos)} faces/ photos above 2 MP, detected at full size and on the scaled copy: the same faces found in"
                  f" each; keypoints move by a median {np.median(shifts) * 100:.1f} % of the inter-eye distance (at most {max(shifts) * 100:.1f} %),"
                  f" and the two chips' embeddings agree at cosine {min(cos):.3f} or more."]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_export evaluate-face", description=__doc__.splitlines()[0])
    parser.add_argument("--nuaa", type=Path, default=SHARED_DATA / "nuaa")
    parser.add_argument("--faces", type=Path, default=SHARED_DATA / "faces")
    parser.add_argument("--models", type=Path, default=MODELS_DIR)
    parser.add_argument("--mesh", action="store_true", help="also align SFace on the face mesh's five points (slower)")
    parser.add_argument("--calibration-subjects", default=",".join(CALIBRATION_SUBJECTS),
                        help="NUAA subjects that choose thresholds and weights (a deployment passes its own people's folders instead)")
    parser.add_argument("--dry-run", action="store_true", help="print the figures, write nothing")
    parser.add_argument("--report-only", action="store_true", help="rewrite REPORT.md from report/evaluation.json")
    args = parser.parse_args(argv)
    if args.report_only:
        sface_dir = args.models / "face_sface"
        write_report(json.loads((sface_dir / "report" / "evaluation.json").read_text()), sface_dir / "REPORT.md")
        return 0

    settings = Settings.from_env({})
    sface_dir = args.models / "face_sface"
    sface_model, dlib_model = OnnxModel(sface_dir), OnnxModel(args.models / "face_embedding")
    embedders = [
        Embedder(SFACE, sface_model, ChipGeometry.from_manifest(sface_model.manifest)),
        Embedder(DLIB, dlib_model, ChipGeometry.from_manifest(dlib_model.manifest)),
    ]

    samples = nuaa_samples(args.nuaa)
    key = "-".join([sface_model.manifest.sha256[:12], dlib_model.manifest.sha256[:12], str(len(samples)), "mesh" if args.mesh else "plain"])
    cache = CACHE_DIR / f"face_compare_{key}.pkl"
    if cache.is_file():
        samples = pickle.loads(cache.read_bytes())
        print(f"embeddings read from {cache}")
    else:
        for i, s in enumerate(samples):
            embed_sample(s, read_rgb(s.path), embedders, settings, args.mesh)
            if i % 250 == 0:
                print(f"NUAA {i}/{len(samples)}", flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(samples))
    calibration_people = set(args.calibration_subjects.split(","))
    cal = [s for s in samples if s.person in calibration_people]
    rep = [s for s in samples if s.person not in calibration_people]

    acquisition = {
        "frames": len(samples),
        "failed": sum(1 for s in samples if s.reason),
        "reasons": sorted({s.reason for s in samples if s.reason}),
        "with_other_faces": sum(1 for s in samples if s.faces_found > 1),
        "other_faces_ignored": sum(1 for s in samples if s.flags),
    }

    kinds = [SFACE, DLIB] + ([SFACE_MESH] if args.mesh else [])
    cal_pairs = {k: frame_pairs(cal, k) for k in kinds}
    rep_pairs = {k: frame_pairs(rep, k) for k in kinds}
    norm = {k: (float(cal_pairs[k].impostor.mean()), float(cal_pairs[k].impostor.std())) for k in (SFACE, DLIB)}
    weights = {}
    for w in FUSION_WEIGHTS:
        p = fusion_pairs(cal, norm, w)
        weights[w] = d_prime(p.genuine, p.impostor)
    best_weight = max(weights, key=weights.get)
    cal_pairs[FUSION], rep_pairs[FUSION] = fusion_pairs(cal, norm, best_weight), fusion_pairs(rep, norm, best_weight)
    fusion_grid = {f"{w:g}": {"calibration_d_prime": round(weights[w], 3),
                              "reported": verification_summary(*(lambda p: (p.genuine, p.impostor))(fusion_pairs(rep, norm, w)))}
                   for w in FUSION_WEIGHTS}

    bands = choose_bands(cal_pairs[SFACE].impostor)
    rep_enrol = enrolment_pairs(rep, SFACE)
    cal_enrol = enrolment_pairs(cal, SFACE)

    per_subject = {}
    rp = rep_pairs[SFACE]
    for person in sorted({s.person for s in rep}):
        g = rp.genuine[rp.genuine_person == person]
        i = rp.impostor[(rp.impostor_people == person).any(1)]
        row = {"impostor_pairs": int(len(i)), "impostor_max": round(float(i.max()), 4), "impostors_accepted": int((i >= bands["accept"]).sum())}
        if len(g):
            row.update(verification_summary(g, i))
            row.update(genuine_min=round(float(g.min()), 4), genuine_accepted=round(float(np.mean(g >= bands["accept"])), 4))
        per_subject[person] = row
    lookalike = {}
    hits = rp.impostor_people[rp.impostor >= bands["accept"]]
    for a, b in hits:
        key = "-".join(sorted((a, b)))
        lookalike[key] = lookalike.get(key, 0) + 1

    faces_samples = {}
    pairs = faces_pairs(args.faces)
    names = sorted({n for a, b, _ in pairs for n in (a, b)})
    for name in names:
        faces_samples[name] = embed_sample(Sample(args.faces / name, name, ""), read_rgb(args.faces / name), embedders, settings, False)
    faces_result = {}
    for k in (SFACE, DLIB):
        g, i, missing = faces_pair_scores(pairs, faces_samples, k)
        faces_result[k] = {"missing": missing, "genuine_min": round(float(g.min()), 4), "impostor_max": round(float(i.max()), 4),
                           **verification_summary(g, i)}
    g, i, _ = faces_pair_scores(pairs, faces_samples, SFACE)
    faces_result[SFACE]["correct_at_accept"] = int((g >= bands["accept"]).sum() + (i < bands["accept"]).sum())
    faces_result[SFACE]["bands"] = band_outcomes(g, i, bands)
    faces_g, faces_i = g, i

    large = large_photo_check(args.faces, sorted(p.name for p in args.faces.glob("*.jpg")), embedders[0], settings)
    large_pairs = large_photo_pairs(args.faces, pairs, embedders[0], settings)
    for row in large_pairs.values():
        g, i = row.pop("scores")
        row["correct_at_accept"] = int((g >= bands["accept"]).sum() + (i < bands["accept"]).sum())
        row["bands"] = band_outcomes(g, i, bands)
    large["faces_pairs_at_4000px"] = large_pairs

    results = {
        "protocol": {
            "calibration_subjects": sorted(calibration_people),
            "reported_subjects": sorted({s.person for s in rep}),
            "pairs": "single frames, different sessions of one person (genuine) or two people (impostor)",
            "enrolment_rule": f"probe frame vs mean of {ENROLMENT_FRAMES} frames of another session, 20 draws per person-session",
        },
        "acquisition": acquisition,
        "nuaa_calibration": {k: verification_summary(p.genuine, p.impostor) for k, p in cal_pairs.items()},
        "nuaa_cross_session": {k: verification_summary(p.genuine, p.impostor) for k, p in rep_pairs.items()},
        "nuaa_cross_session_enrolment_rule": {SFACE: verification_summary(rep_enrol.genuine, rep_enrol.impostor)},
        "fusion": {"normalisation": "z-score on calibration impostor pairs", "weight_of_dlib": best_weight,
                   "chosen_by": "largest d' on the calibration pairs", "grid": fusion_grid},
        "bands": bands,
        "bands_on_calibration": band_outcomes(cal_pairs[SFACE].genuine, cal_pairs[SFACE].impostor, bands),
        "bands_on_calibration_enrolment_rule": band_outcomes(cal_enrol.genuine, cal_enrol.impostor, bands),
        "bands_on_nuaa_cross_session": band_outcomes(rp.genuine, rp.impostor, bands),
        "bands_on_nuaa_enrolment_rule": band_outcomes(rep_enrol.genuine, rep_enrol.impostor, bands),
        "impostor_pairs_accepted_by_people": lookalike,
        "per_subject": per_subject,
        "faces_pairs": faces_result,
        "large_photos": large,
    }
    print(json.dumps(results, indent=1))
    if args.dry_run:
        return 0

    report_dir = sface_dir / "report"
    report_dir.mkdir(exist_ok=True)
    curves = {f"{k} ({v['eer'] * 100:.2f}% EER)": (rep_pairs[k].genuine, rep_pairs[k].impostor)
              for k, v in results["nuaa_cross_session"].items()}
    curves[f"sface, mean of {ENROLMENT_FRAMES} enrolment frames"] = (rep_enrol.genuine, rep_enrol.impostor)
    plot_det(curves, report_dir / "det_nuaa_cross_session.png", "NUAA cross-session, reported subjects")
    plot_scores(rp.genuine, rp.impostor, bands, report_dir / "scores_nuaa_cross_session.png", "NUAA cross-session, reported subjects")
    plot_scores(faces_g, faces_i, bands, report_dir / "scores_faces_pairs.png", "faces/master.csv, 300 pairs")
    (report_dir / "evaluation.json").write_text(json.dumps(results, indent=1) + "\n")
    write_report(results, sface_dir / "REPORT.md")

    manifest_path = sface_dir / MANIFEST_FILE
    manifest = ModelManifest.from_dict(json.loads(manifest_path.read_text()))
    calibration = {
        "method": "bands chosen on NUAA calibration subjects' cross-session pairs: accept above every calibration impostor pair "
                  "(rounded up to 0.01), review from the score where 1 in 100 calibration impostor pairs would pass",
        "data": f"NUAA live frames of subjects {', '.join(sorted(calibration_people))} (sessions 1 and 2)",
        "operating_point": {"accept_fmr_target": 1e-5, "observed_calibration_fmr_at_accept": 0.0,
                            "calibration_impostor_pairs": int(len(cal_pairs[SFACE].impostor)), "review_fmr": REVIEW_FMR},
        "recalibrate": "python -m model_export evaluate-face --nuaa <folder of your people: <split>/live/<person>/..._<session>_...jpg> "
                       "--calibration-subjects <ids>; see MODEL_CARD.md",
    }
    metrics = {k: results[k] for k in ("acquisition", "nuaa_cross_session", "nuaa_cross_session_enrolment_rule",
                                       "bands_on_nuaa_cross_session", "bands_on_nuaa_enrolment_rule", "faces_pairs")}
    manifest = ModelManifest(**{**manifest.__dict__, "thresholds": bands, "calibration": calibration, "metrics": metrics})
    write_manifest(sface_dir, manifest)
    print(f"wrote {report_dir} and the bands into {manifest_path}")
    return 0
