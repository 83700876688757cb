"""`python -m model_export train-face --data <dir>`: fine-tune the face network as a twin (Siamese) pair.

<dir> holds one sub-folder per identity with that person's photos. Every photo
goes through the serving crop (crop_face -> aligned chip), so training sees
exactly the chips the service will see. Training starts from the converted
dlib network and fine-tunes its last residual level and head with a
contrastive loss on pairs: each batch is half same-person, half
different-person pairs, with identities drawn uniformly, so people with few
photos count as much as people with many.

Identities are split into train and validation sets (never the same person in
both). The tuned network is written (ONNX + manifest, same layout as
export-face) only when it beats the converted network on the validation
pairs, unless --force.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from functions.imaging.face_detection import crop_face
from functions.imaging.face_preprocessing import ChipGeometry
from functions.manifests import ModelManifest, read_manifest, sha256_file, write_manifest

from .train import DEFAULT_OUT, export_onnx, load_converted

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


@dataclass
class ChipSet:
    chips: list[np.ndarray]
    labels: list[int]
    names: list[str]


def load_identity_chips(data: Path, geometry: ChipGeometry, max_per_identity: int) -> ChipSet:
    from tqdm import tqdm

    from .alignment import read_rgb

    folders = sorted(p for p in data.iterdir() if p.is_dir())
    chips, labels, names = [], [], []
    for label, folder in enumerate(tqdm(folders, desc="identities", unit="id")):
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        step = max(1, len(photos) // max_per_identity)
        for path in photos[::step][:max_per_identity]:
            result = crop_face(read_rgb(path), multiple_faces="largest", min_eye_distance_px=16, chip_spec=geometry)
            if result.ok:
                chips.append(result.chip)
                labels.append(label)
        names.append(folder.name)
    return ChipSet(chips, labels, names)


def pair_metrics(emb: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    iu = np.triu_indices(len(emb), 1)
    d = np.linalg.norm(emb[:, None] - emb[None], axis=2)[iu]
    same = (labels[:, None] == labels[None])[iu]
    from .evaluate import equal_error_rate, sweep

    _, fmr, fnmr = sweep(d, same)
    return {
        "pairs_genuine": int(same.sum()),
        "pairs_impostor": int((~same).sum()),
        "eer": round(equal_error_rate(fmr, fnmr), 4),
        "fmr_at_threshold": round(float((d[~same] < threshold).mean()), 4),
        "fnmr_at_threshold": round(float((d[same] >= threshold).mean()), 4),
        "balanced_accuracy": round(1 - 0.5 * (float((d[~same] < threshold).mean()) + float((d[same] >= threshold).mean())), 4),
    }


def contrastive_loss(a, b, same, margin: float, threshold: float):
    """Same-person pairs pulled below threshold - margin, others pushed beyond threshold + margin (dlib's metric loss)."""
    import torch

    d = torch.linalg.norm(a - b, dim=1)
    pos = torch.clamp(d - (threshold - margin), min=0) ** 2
    neg = torch.clamp((threshold + margin) - d, min=0) ** 2
    return torch.where(same, pos, neg).mean()


def sample_pairs(labels: np.ndarray, n: int, rng: random.Random) -> tuple[list[int], list[int], list[bool]]:
    """n pairs, half same-person; identities drawn uniformly (balanced for people with few photos)."""
    by_id: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_id.setdefault(int(label), []).append(i)
    multi = [k for k, v in by_id.items() if len(v) >= 2]
    ids = list(by_id)
    left, right, same = [], [], []
    for j in range(n):
        if j % 2 == 0 and multi:
            k = rng.choice(multi)
            a, b = rng.sample(by_id[k], 2)
            left.append(a), right.append(b), same.append(True)
        else:
            k1, k2 = rng.sample(ids, 2)
            left.append(rng.choice(by_id[k1])), right.append(rng.choice(by_id[k2])), same.append(False)
    return left, right, same


def main(argv: list[str]) -> int:
    import torch
    from tqdm import tqdm

    ap = argparse.ArgumentParser(prog="python -m model_export train-face", description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="folder of identity folders")
    ap.add_argument("--base-model-dir", type=Path, default=DEFAULT_OUT, help="converted model (for its manifest: geometry, threshold)")
    ap.add_argument("--out", type=Path, default=None, help="where to write the tuned model (default: do not write)")
    ap.add_argument("--max-per-identity", type=int, default=30)
    ap.add_argument("--val-fraction", type=float, default=0.34)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-pairs", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--margin", type=float, default=0.04)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--force", action="store_true", help="write the model even if it does not beat the base")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    base = read_manifest(args.base_model_dir)
    geometry = ChipGeometry.from_manifest(base)
    threshold = base.thresholds["distance"]
    data = load_identity_chips(args.data, geometry, args.max_per_identity)
    labels = np.array(data.labels)
    ids = sorted(set(data.labels))
    if len(ids) < 4:
        raise SystemExit(f"need at least 4 identities with a usable face, found {len(ids)}")
    rng.shuffle(ids)
    n_val = max(2, int(round(len(ids) * args.val_fraction)))
    val_ids = set(ids[:n_val])
    train_idx = np.array([i for i, l in enumerate(data.labels) if l not in val_ids])
    val_idx = np.array([i for i, l in enumerate(data.labels) if l in val_ids])
    print(f"{len(data.chips)} chips of {len(set(data.labels))} identities; train {len(train_idx)} chips "
          f"({len(ids) - n_val} ids), validation {len(val_idx)} chips ({n_val} ids)")

    model, network = load_converted()
    spec = base.input
    x_all = torch.from_numpy(spec.to_tensor(data.chips))

    def embed(idx) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            return torch.cat([model(x_all[idx[i : i + 32]]) for i in range(0, len(idx), 32)]).numpy()

    before = pair_metrics(embed(val_idx), labels[val_idx], threshold)
    print(f"validation before: {json.dumps(before)}")

    # Fine-tune the last level and the head; the rest stays as trained on millions of faces.
    for p in model.parameters():
        p.requires_grad = False
    tuned = list(model.blocks[-1].parameters()) + list(model.fc.parameters())
    for p in tuned:
        p.requires_grad = True
    optimiser = torch.optim.Adam(tuned, lr=args.lr)
    train_labels = labels[train_idx]
    progress = tqdm(range(args.steps), desc="train", unit="step")
    for step in progress:
        left, right, same = sample_pairs(train_labels, args.batch_pairs, rng)
        model.train()
        a = model(x_all[train_idx[left]])
        b = model(x_all[train_idx[right]])
        loss = contrastive_loss(a, b, torch.tensor(same), args.margin, threshold)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        progress.set_postfix(loss=f"{loss.item():.2e}")

    after = pair_metrics(embed(val_idx), labels[val_idx], threshold)
    print(f"validation after:  {json.dumps(after)}")
    better = (after["eer"], -after["balanced_accuracy"]) < (before["eer"], -before["balanced_accuracy"])
    print("fine-tuning " + ("beats" if better else "does not beat") + " the converted network on held-out identities")
    if args.out and (better or args.force):
        args.out.mkdir(parents=True, exist_ok=True)
        export_onnx(model.eval(), args.out / "model.onnx")
        for extra in ("MODEL_CARD.md",):
            if (args.base_model_dir / extra).is_file() and args.out != args.base_model_dir:
                shutil.copy(args.base_model_dir / extra, args.out / extra)
        d = base.to_dict()
        d.update({
            "version": base.version + "+tuned",
            "sha256": sha256_file(args.out / "model.onnx"),
            "training": {"method": "contrastive fine-tuning of the last level and head", "data": str(args.data),
                         "steps": args.steps, "validation_before": before, "validation_after": after},
        })
        write_manifest(args.out, ModelManifest.from_dict(d))
        print(f"wrote {args.out}")
    return 0
