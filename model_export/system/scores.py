"""Each image scored once by the service's own code and real models, cached, for composing attempts.

Face photos (NUAA live and printed-photo attack frames, and simulated prints
and screen replays of NUAA dev live frames): the face-crop step's crop
(MediaPipe, dominant-face policy, the record it writes), the face-match step's
embedding (SFace chip from the manifest's geometry), and the anti-spoofing
step's liveness result (the members' crops of the same detection).

Signatures (validation and test writers of `model_export/signature/splits.json`):
the service's preprocessing and the shipped network's features; trials are
scored later with the service's writer model.

Everything lands in one .npz per kind under the cache folder (default under
/tmp), keyed by the models' sha256, so a second run reads instead of computing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from functions.biometrics.face_alignment import ChipGeometry
from functions.biometrics.face_detection import crop_face
from functions.biometrics.face_matching import embed_face, face_models
from functions.biometrics.liveness import MODEL_NAME as ANTISPOOF_MODEL
from functions.biometrics.liveness import check_liveness, member_crops
from functions.biometrics.signature_preparation import SignatureImageError, prepare_signature
from functions.biometrics.signature_verification import MODEL_NAME as SIGNATURE_MODEL
from functions.biometrics.signature_verification import signature_features
from functions.manifests import FACE_MODEL
from functions.onnx_models import load_model
from functions.settings import get_settings

from ..common.paths import SHARED_DATA
from ..signature.data import list_files, load_splits, writers_of

DEFAULT_CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "bioauth-system-scores"
SIMULATED_EVERY = 2  # every 2nd NUAA dev live frame becomes one simulated print and one simulated screen replay


class CachedArrays:
    """Arrays aligned by index, kept in the score cache as one .npz file."""

    @classmethod
    def load(cls, path: Path):
        with np.load(path, allow_pickle=False) as z:
            return cls(**{k: z[k] for k in cls.__dataclass_fields__})

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **{k: getattr(self, k) for k in self.__dataclass_fields__})


@dataclass
class FaceImages(CachedArrays):
    """One row per face photo (arrays aligned by index)."""

    paths: np.ndarray  # str, relative to the NUAA folder (simulated: "<kind>:<source path>")
    split: np.ndarray  # "train" | "dev"
    kind: np.ndarray  # "live" | "print" | "simulated_print" | "simulated_replay"
    person: np.ndarray  # NUAA subject id
    session: np.ndarray  # capture session ("01", "02", "03")
    reason: np.ndarray  # the face-crop step's reason code, "" when the face is usable
    flags: np.ndarray  # the face-crop step's flags, comma-joined
    embedding: np.ndarray  # (N, 128) unit vectors, NaN where the face was not usable
    second_embedding: np.ndarray  # (N, d) the second fused network's unit vectors (EdgeFace: 512); (N, 0) without fusion
    live_score: np.ndarray  # the anti-spoofing step's fused probability of live, NaN where not usable
    live_members: np.ndarray  # (N, members)

    @classmethod
    def load(cls, path: Path) -> "FaceImages":
        with np.load(path, allow_pickle=False) as z:
            fields = {k: z[k] for k in cls.__dataclass_fields__ if k in z.files}
        fields.setdefault("second_embedding", np.zeros((len(fields["paths"]), 0), dtype=np.float32))  # a cache from before fusion
        return cls(**fields)

    @property
    def usable(self) -> np.ndarray:
        return self.reason == ""


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _face_items(nuaa: Path) -> list[tuple[str, str, str, str, str, object]]:
    """(path key, split, kind, person, session, image loader) for every photo to score."""
    from tests.fixtures.spoof import make_print_attack, make_screen_replay

    items = []
    for split in ("train", "dev"):
        for folder, kind in (("live", "live"), ("spoof", "print")):
            for p in sorted((nuaa / split / folder).glob("*/*.jpg")):
                parts = p.stem.split("_")
                items.append((str(p.relative_to(nuaa)), split, kind, parts[0], parts[3], lambda p=p: _read_rgb(p)))
    dev_live = sorted((nuaa / "dev" / "live").glob("*/*.jpg"))
    for k, p in enumerate(dev_live[::SIMULATED_EVERY]):
        parts = p.stem.split("_")
        rel = str(p.relative_to(nuaa))
        items.append((f"simulated_print:{rel}", "dev", "simulated_print", parts[0], parts[3],
                      lambda p=p, k=k: make_print_attack(_read_rgb(p), k)))
        items.append((f"simulated_replay:{rel}", "dev", "simulated_replay", parts[0], parts[3],
                      lambda p=p, k=k: make_screen_replay(_read_rgb(p), k)))
    return items


def score_faces(nuaa: Path = SHARED_DATA / "nuaa", cache: Path = DEFAULT_CACHE, models_dir: Path | None = None) -> FaceImages:
    """Every NUAA photo (and the simulated attacks) through face-crop, face-match's embedding and antispoof, once."""
    settings = get_settings()
    face_model = load_model(FACE_MODEL, models_dir)
    networks = face_models(models_dir, face_model).members
    if len(networks) > 2:
        raise ValueError("the system scores hold two face networks at most")
    spoof_model = load_model(ANTISPOOF_MODEL, models_dir)
    key = "-".join(m.manifest.sha256[:10] for m in networks) + f"-{spoof_model.manifest.sha256[:10]}-{SIMULATED_EVERY}"
    path = cache / f"faces-{key}.npz"
    if path.is_file():
        return FaceImages.load(path)
    geometry = ChipGeometry.from_manifest(face_model.manifest)
    items = _face_items(nuaa)
    n, members = len(items), len(spoof_model.manifest.extra["members"])
    rows = {"reason": [], "flags": []}
    embedding = np.full((n, 128), np.nan, dtype=np.float32)
    second = np.full((n, networks[1].manifest.extra["embedding"]["size"] if len(networks) > 1 else 0), np.nan, dtype=np.float32)
    live = np.full(n, np.nan)
    live_members = np.full((n, members), np.nan)
    for i, (_, _, _, _, _, load) in enumerate(items):
        image = load()
        found = crop_face(image, min_score=settings.min_face_score, min_eye_distance_px=settings.min_eye_distance_px,
                          multiple_faces=settings.multiple_faces, chip_spec=geometry)
        rows["reason"].append(found.reason or "")
        rows["flags"].append(",".join(found.flags))
        if found.reason:
            continue
        embedding[i] = embed_face(found.chip, face_model)
        if len(networks) > 1:
            second[i] = embed_face(found.chip, networks[1])
        result = check_liveness(member_crops(image, found.detection.box, spoof_model.manifest), spoof_model)
        live[i] = result.score
        live_members[i] = list(result.member_scores.values())
        if i % 250 == 0:
            print(f"faces {i}/{n}", flush=True)
    out = FaceImages(
        paths=np.array([it[0] for it in items]), split=np.array([it[1] for it in items]), kind=np.array([it[2] for it in items]),
        person=np.array([it[3] for it in items]), session=np.array([it[4] for it in items]),
        reason=np.array(rows["reason"]), flags=np.array(rows["flags"]), embedding=embedding, second_embedding=second, live_score=live, live_members=live_members,
    )
    out.save(path)
    return out


@dataclass
class SignatureImages(CachedArrays):
    """Validation and test writers' signatures: features by the shipped network (arrays aligned by index)."""

    paths: np.ndarray
    sets: np.ndarray
    writers: np.ndarray
    genuine: np.ndarray  # bool
    part: np.ndarray  # "val" | "test"
    reason: np.ndarray  # the preprocessing's refusal code, "" when usable
    features: np.ndarray  # (N, d), NaN where refused


def score_signatures(root: Path = SHARED_DATA / "signatures", cache: Path = DEFAULT_CACHE, models_dir: Path | None = None) -> SignatureImages:
    """The validation and test writers' signatures through the service's preprocessing and the shipped network, once."""
    from ..signature.data import read_gray

    model = load_model(SIGNATURE_MODEL, models_dir)
    path = cache / f"signatures-{model.manifest.sha256[:10]}.npz"
    if path.is_file():
        return SignatureImages.load(path)
    splits = load_splits()
    part_of = {w: part for part in ("val", "test") for w in writers_of(splits, part)}
    files = [f for f in list_files(root) if f[1] in part_of]
    canvases, reasons = [], []
    for name, writer, genuine, p in files:
        try:
            canvases.append(prepare_signature(read_gray(p)))
            reasons.append("")
        except SignatureImageError as exc:
            canvases.append(None)
            reasons.append(exc.code)
    ok = [i for i, c in enumerate(canvases) if c is not None]
    features = None
    for start in range(0, len(ok), 128):
        batch = signature_features(model, [canvases[i] for i in ok[start : start + 128]])
        if features is None:
            features = np.full((len(files), batch.shape[1]), np.nan)
        features[ok[start : start + 128]] = batch
        print(f"signatures {start}/{len(ok)}", flush=True)
    out = SignatureImages(
        paths=np.array([str(f[3].relative_to(root)) for f in files]), sets=np.array([f[0] for f in files]),
        writers=np.array([f[1] for f in files]), genuine=np.array([f[2] for f in files]), part=np.array([part_of[f[1]] for f in files]),
        reason=np.array(reasons), features=features,
    )
    out.save(path)
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m model_export.system.scores", description=__doc__)
    p.add_argument("--data", type=Path, default=SHARED_DATA)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--only", choices=("faces", "signatures"), default=None)
    args = p.parse_args(argv)
    if args.only in (None, "signatures"):
        s = score_signatures(args.data / "signatures", args.cache)
        print(json.dumps({"signatures": len(s.paths), "refused": int((s.reason != "").sum())}))
    if args.only in (None, "faces"):
        f = score_faces(args.data / "nuaa", args.cache)
        print(json.dumps({"faces": len(f.paths), "unusable": int((~f.usable).sum())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
