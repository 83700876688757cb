"""`python -m model_export face pairset`: the largest different-person pair set we may use, and the face levers on it.

Sources (each read from a path given here; nothing is copied into the repository):

- NUAA live frames (`--nuaa`): 15 people, two sessions; genuine pairs cross sessions.
- Face Research Lab London Set (`--frll`, a folder holding neutral_front/ and smiling_front/,
  e.g. webmorphR.stim's inst/): 102 people, a neutral and a smiling photo each (CC BY 4.0,
  DeBruine & Jones 2017, doi:10.6084/m9.figshare.5047666.v5).
- Folders of one photo per person (`--singles`): e.g. webmorphR.stim's canada/ (40 people, CC BY,
  doi:10.6084/m9.figshare.4220517.v1) and 3dsk/female, 3dsk/male (100 people, CC BY, OSF a3947).
  They add different-person pairs only.

Every photo goes through the service's crop (MediaPipe, dominant face) and SFace's chip. Variants:
`sface` (served: BlazeFace's four points), `sface_mesh` (the face mesh's five points, iris centres
and mouth corners), `edgeface` (EdgeFace-XS on the served chip), `fusion` (mean of the sface and
edgeface cosines). People are split in two: calibration people (NUAA's calibration subjects and
half of the others by a hash of their name) choose the door band; the figures are reported on
the other half, which chose nothing.

Writes pairset.json and DET plots into --out. With --write-bands, the fusion's bands (chosen on the
calibration people) go into the face model's manifest (models/face_sface by default: thresholds,
`fusion`, `calibration` saying how they were chosen, the report people's figures under
`metrics.fused_pairset`); its `calibration.llr` is then stale until
`python -m model_export system calibrate --only face`, `system evaluate` and `system ship` re-fit it on the fused score.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from functions.biometrics.face_alignment import align_face, sface_geometry, similarity_transform, warp_to_chip
from functions.biometrics.face_detection import crop_face
from functions.onnx_models import OnnxModel
from functions.settings import Settings

from ..common.images import read_rgb
from ..common.paths import CACHE_DIR, MODELS_DIR, RUNS_DIR, SHARED_DATA
from .pairs import CALIBRATION_SUBJECTS, rates

SFACE, SFACE_MESH, EDGEFACE, FUSION = "sface", "sface_mesh", "edgeface", "fusion"
FMR_TARGETS = (1e-3, 1e-4, 1e-5)
SHIPPED_ACCEPT = 0.41
DOOR_FMR = 1e-5
REVIEW_FMR = 1e-2


@dataclass
class Photo:
    path: Path
    person: str
    session: str
    source: str
    reason: str | None = None
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)


def collect(nuaa: Path | None, frll: Path | None, singles: list[Path]) -> list[Photo]:
    photos: list[Photo] = []
    if nuaa:
        for p in sorted(nuaa.glob("*/live/*/*.jpg")):
            parts = p.stem.split("_")
            photos.append(Photo(p, f"nuaa:{parts[0]}", parts[3], "nuaa"))
    if frll:
        for session in ("neutral_front", "smiling_front"):
            for p in sorted((frll / session).glob("*.jpg")):
                photos.append(Photo(p, f"frll:{p.stem.split('_')[0]}", session, "frll"))
    for folder in singles:
        for p in sorted(folder.glob("*.jpg")):
            photos.append(Photo(p, f"{folder.parent.name}/{folder.name}:{p.stem}", "1", folder.name))
    return photos


def is_calibration(person: str) -> bool:
    """NUAA's calibration subjects, and half of the other people by a stable hash of their name."""
    if person.startswith("nuaa:"):
        return person[5:] in CALIBRATION_SUBJECTS
    return int(hashlib.sha256(person.encode()).hexdigest(), 16) % 2 == 0


_mesh = None


def mesh_five_points(image: np.ndarray, box) -> np.ndarray | None:
    """Iris centres, nose tip and mouth corners from MediaPipe's face mesh (model shipped in the wheel), on the face's region."""
    import cv2
    import mediapipe as mp

    global _mesh
    if _mesh is None:
        _mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
    x, y, w, h = box
    cx, cy, side = x + w / 2, y + h / 2, max(w, h) * 1.8
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    region = image[y0:int(min(image.shape[0], cy + side / 2)), x0:int(min(image.shape[1], cx + side / 2))]
    f = min(1.0, 512 / max(region.shape[:2]))
    small = cv2.resize(region, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else region
    found = _mesh.process(np.ascontiguousarray(small))
    if not found.multi_face_landmarks:
        return None
    lm = found.multi_face_landmarks[0].landmark
    point = lambda i: np.array([lm[i].x * small.shape[1] / f + x0, lm[i].y * small.shape[0] / f + y0])
    ordered = lambda a, b: (a, b) if a[0] < b[0] else (b, a)  # the subject's right is the image's left
    right_eye, left_eye = ordered(point(468), point(473))
    mouth_right, mouth_left = ordered(point(61), point(291))
    return np.array([right_eye, left_eye, point(1), mouth_right, mouth_left])


def embed_all(photos: list[Photo], sface: OnnxModel, edgeface: OnnxModel | None, mesh: bool) -> None:
    settings = Settings.from_env({})
    geometry = sface_geometry()
    five = np.array(list(sface_geometry(("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")).reference.values())) * 112
    run = lambda model, chip: np.asarray(model.run_images([chip])[0], dtype=np.float64).reshape(-1)
    for i, photo in enumerate(photos):
        image = read_rgb(photo.path)
        found = crop_face(image, min_score=settings.min_face_score, min_eye_distance_px=settings.min_eye_distance_px,
                          multiple_faces=settings.multiple_faces)
        photo.reason = found.reason
        if found.reason:
            continue
        chip = align_face(image, found.detection.keypoints, geometry)
        photo.embeddings[SFACE] = run(sface, chip)
        if edgeface is not None:
            photo.embeddings[EDGEFACE] = run(edgeface, chip)
        if mesh:
            points = mesh_five_points(image, found.detection.box)
            if points is not None:
                photo.embeddings[SFACE_MESH] = run(sface, warp_to_chip(image, similarity_transform(points, five), 112, antialias=False))
        if i % 250 == 0:
            print(f"embedded {i}/{len(photos)}", flush=True)


@dataclass
class Pairs:
    """Scores of every pair of usable photos, with who is in each pair."""

    scores: dict[str, np.ndarray]
    genuine: np.ndarray  # bool per pair
    impostor: np.ndarray
    calibration: np.ndarray  # both people are calibration people
    report: np.ndarray  # both people are report people
    people: tuple[np.ndarray, np.ndarray]


def all_pairs(photos: list[Photo], kinds: list[str]) -> Pairs:
    usable = [p for p in photos if all(k in p.embeddings for k in kinds if k != FUSION)]
    person = np.array([p.person for p in usable])
    session = np.array([p.session for p in usable])
    cal = np.array([is_calibration(p) for p in person])
    i, j = np.triu_indices(len(usable), 1)
    scores = {}
    for k in kinds:
        if k == FUSION:
            continue
        e = np.stack([p.embeddings[k] for p in usable])
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        scores[k] = (e @ e.T)[i, j].astype(np.float32)
    if FUSION in kinds:
        scores[FUSION] = (scores[SFACE] + scores[EDGEFACE]) / 2
    same = person[i] == person[j]
    return Pairs(scores, same & (session[i] != session[j]), ~same, cal[i] & cal[j], ~cal[i] & ~cal[j], (person[i], person[j]))


def fnmr_at(genuine: np.ndarray, impostor: np.ndarray, target: float) -> float | None:
    """FNMR at the lowest threshold with FMR <= target; None when there are too few impostor pairs to see that FMR."""
    if len(impostor) * target < 1:
        return None
    _, fmr, fnmr = rates(genuine, impostor)
    ok = fmr <= target
    return float(fnmr[ok].min())


def door_bands(impostor: np.ndarray) -> dict:
    """Accept where at most DOOR_FMR of the calibration impostor pairs pass (above all of them when there are fewer
    than 1/DOOR_FMR), rounded up to 0.005; review where REVIEW_FMR of them pass."""
    s = np.sort(impostor)[::-1]
    k = int(np.floor(DOOR_FMR * len(s)))
    accept = float(np.ceil((s[k] + 1e-9) * 200) / 200)
    review = float(np.floor(s[int(np.floor(REVIEW_FMR * len(s)))] * 1000) / 1000)
    return {"accept": accept, "review": review}


def summary(pairs: Pairs, kind: str, where: np.ndarray, bands: dict | None) -> dict:
    s = pairs.scores[kind]
    g, imp = s[pairs.genuine & where], s[pairs.impostor & where]
    a, b = pairs.people[0][pairs.impostor & where], pairs.people[1][pairs.impostor & where]
    out = {
        "genuine_pairs": int(len(g)), "impostor_pairs": int(len(imp)),
        "people": int(len(set(a) | set(b))), "different_person_pairs_of_people": int(len({(x, y) for x, y in zip(a, b)})),
        "highest_impostor": round(float(imp.max()), 4), "lowest_genuine": round(float(g.min()), 4),
    }
    for t in FMR_TARGETS:
        v = fnmr_at(g, imp, t)
        out[f"fnmr_at_fmr_{t:g}"] = None if v is None else round(v, 5)
    if kind in (SFACE, SFACE_MESH):
        out["at_shipped_accept_0.41"] = {"fnmr": round(float(np.mean(g < SHIPPED_ACCEPT)), 5),
                                         "impostors_accepted": int(np.sum(imp >= SHIPPED_ACCEPT)),
                                         "fmr": float(np.mean(imp >= SHIPPED_ACCEPT))}
    if bands:
        acc = imp >= bands["accept"]
        out["at_door_bands"] = {
            **bands, "fnmr_at_accept": round(float(np.mean(g < bands["accept"])), 5),
            "genuine_to_review": round(float(np.mean((g >= bands["review"]) & (g < bands["accept"]))), 5),
            "genuine_rejected": round(float(np.mean(g < bands["review"])), 5),
            "impostors_accepted": int(acc.sum()), "fmr_at_accept": float(acc.mean()),
            "impostors_to_review": int(((imp >= bands["review"]) & ~acc).sum()),
            "impostors_rejected": int((imp < bands["review"]).sum()),
            "impostor_people_accepted": sorted({f"{x}~{y}" for x, y in zip(a[acc], b[acc])})[:20],
        }
    return out


def write_fused_bands(face_dir: Path, result: dict, photos: list[Photo], edgeface: OnnxModel) -> dict:
    """The fusion's bands and how they were chosen into the face manifest; the face LLR is left for `system calibrate`."""
    from functions.manifests import MANIFEST_FILE

    from ..common.provenance import build_record, content_sha256

    path = face_dir / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    fusion = result["variants"][FUSION]
    cal, rep = fusion["calibration"], fusion["report"]
    bands = {k: cal["at_door_bands"][k] for k in ("accept", "review")}
    calibration_photos = [p.path for p in photos if is_calibration(p.person)]
    manifest["thresholds"] = bands
    manifest["fusion"] = {
        "members": [manifest["name"], edgeface.manifest.name],
        "score": "mean of the members' cosines (each: probe vs the mean of the enrolled references), same aligned chip",
        "template": f"{manifest['name']}/{manifest['version']}+{edgeface.manifest.name}/{edgeface.manifest.version}",
    }
    manifest["calibration"] = {
        "score": "fused (mean of the SFace and EdgeFace-XS cosines)",
        "method": f"bands chosen on the pair set's calibration people only: accept where at most {DOOR_FMR:g} of their "
                  f"different-person pairs pass (rounded up to 0.005), review where {REVIEW_FMR:g} of them pass (rounded down to 0.001)",
        "data": "pair set of python -m model_export face pairset: NUAA live frames, Face Research Lab London Set, Young Adult "
                "White Faces, 3DSK; calibration people = NUAA's calibration subjects and half of the others by a hash of their name",
        "calibration_people": cal["people"], "calibration_pairs": {"genuine": cal["genuine_pairs"], "impostor": cal["impostor_pairs"],
                                                                  "pairs_of_people": cal["different_person_pairs_of_people"]},
        "operating_point": {"accept_fmr_target": DOOR_FMR, "observed_calibration_fmr_at_accept": cal["at_door_bands"]["fmr_at_accept"],
                            "review_fmr": REVIEW_FMR},
        "caveat": f"{cal['people']} people ({cal['different_person_pairs_of_people']} pairs of people) cannot place a {DOOR_FMR:g} "
                  f"threshold: on the report people the accept band passes {rep['at_door_bands']['fmr_at_accept']:.1e} of "
                  "different-person pairs (MODEL_CARD.md)",
        "recalibrate": "python -m model_export face pairset --frll ... --singles ... --write-bands, then "
                       "python -m model_export system calibrate --only face, system evaluate, system ship; see MODEL_CARD.md",
    }
    manifest.setdefault("metrics", {})["fused_pairset"] = {"report_people": {k: v for k, v in rep.items()},
                                                           "calibration_people": {k: v for k, v in cal.items()}}
    build = manifest.get("build", {})
    data = dict(build.get("data", {}))
    data["fused_bands_calibration"] = {"what": f"pair-set photos of the {cal['people']} calibration people",
                                       **content_sha256(Path("/"), calibration_photos)}
    manifest["build"] = build_record(data, build.get("seeds", {}), randomness=build.get("randomness"))
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return bands


def plot(pairs: Pairs, kinds: list[str], where: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    fig, ax = plt.subplots(figsize=(5.5, 5))
    lo = 1e-6
    clip = lambda v: norm.ppf(np.clip(v, lo, 1 - lo))
    for kind, style in zip(kinds, ("-", "--", ":", "-.")):
        s = pairs.scores[kind]
        _, fmr, fnmr = rates(s[pairs.genuine & where], s[pairs.impostor & where])
        ax.plot(clip(fmr), clip(fnmr), style, label=kind)
    ticks = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 0.5]
    ax.set_xticks(clip(np.array(ticks)), [f"{t:g}" for t in ticks])
    ax.set_yticks(clip(np.array(ticks)), [f"{t:g}" for t in ticks])
    ax.set_xlim(clip(lo), clip(0.5))
    ax.set_ylim(clip(1e-4), clip(0.5))
    ax.axvline(clip(DOOR_FMR), color="grey", lw=0.5)
    ax.axhline(clip(0.03), color="grey", lw=0.5)
    ax.set_xlabel("false match rate")
    ax.set_ylabel("false non-match rate")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_export face pairset", description=__doc__.splitlines()[0])
    parser.add_argument("--nuaa", type=Path, default=SHARED_DATA / "nuaa")
    parser.add_argument("--frll", type=Path, help="folder with neutral_front/ and smiling_front/ (Face Research Lab London Set)")
    parser.add_argument("--singles", type=Path, nargs="*", default=[], help="folders of one photo per person")
    parser.add_argument("--sface", type=Path, default=MODELS_DIR / "face_sface")
    parser.add_argument("--edgeface", type=Path, default=RUNS_DIR / "face_edgeface", help="run folder of `face edgeface`")
    parser.add_argument("--no-mesh", action="store_true", help="skip the face-mesh alignment variant")
    parser.add_argument("--out", type=Path, default=RUNS_DIR / "face_pairset")
    parser.add_argument("--write-bands", action="store_true",
                        help="write the fusion's bands (chosen on the calibration people) into --sface's manifest")
    args = parser.parse_args(argv)

    photos = collect(args.nuaa, args.frll, args.singles)
    sface = OnnxModel(args.sface, intra_op_threads=1)
    edgeface = OnnxModel(args.edgeface, intra_op_threads=1) if (args.edgeface / "manifest.json").is_file() else None
    key = hashlib.sha256("|".join([sface.manifest.sha256, edgeface.manifest.sha256 if edgeface else "-", str(not args.no_mesh)]
                                  + [str(p.path) for p in photos]).encode()).hexdigest()[:16]
    cache = CACHE_DIR / f"face_pairset_{key}.pkl"
    if cache.is_file():
        photos = pickle.loads(cache.read_bytes())
    else:
        embed_all(photos, sface, edgeface, not args.no_mesh)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(photos))

    kinds = [SFACE] + ([SFACE_MESH] if not args.no_mesh else []) + ([EDGEFACE, FUSION] if edgeface else [])
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict = {"sources": {}, "failed_photos": {}, "variants": {}}
    for p in photos:
        src = result["sources"].setdefault(p.source, {"photos": 0, "people": set()})
        src["photos"] += 1
        src["people"].add(p.person)
        if p.reason:
            result["failed_photos"][p.reason] = result["failed_photos"].get(p.reason, 0) + 1
    for src in result["sources"].values():
        src["people"] = len(src["people"])
    # Every variant on the same photos: those every variant could embed (the mesh may miss a face BlazeFace found).
    pairs = all_pairs(photos, kinds)
    everyone = np.ones_like(pairs.genuine)
    result["pair_set"] = {"all": summary(pairs, SFACE, everyone, None)}
    for kind in kinds:
        s = pairs.scores[kind]
        bands = door_bands(s[pairs.impostor & pairs.calibration])
        result["variants"][kind] = {
            "calibration": summary(pairs, kind, pairs.calibration, bands),
            "report": summary(pairs, kind, pairs.report, bands),
        }
    plot(pairs, kinds, pairs.report, args.out / "det_report.png", "report people (chose nothing)")
    plot(pairs, kinds, everyone, args.out / "det_all.png", "all pairs")
    (args.out / "pairset.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=1))
    if args.write_bands:
        if edgeface is None:
            raise SystemExit("--write-bands needs the EdgeFace run (--edgeface)")
        print(f"fused bands {write_fused_bands(args.sface, result, photos, edgeface)} written into {args.sface}")
    return 0
