"""`python -m model_export train-signature`: the seed paper's small CNN on signature pairs, epoch chosen on validation writers, exported to ONNX.

The questioned signature and a reference are stacked as two channels; binary
cross-entropy, RMSprop, 40 epochs. Each epoch's validation EER (skilled
forgeries) is scored with the service's own rule (mean distance over the
references' spread), and the best epoch is exported.

The run writes `<work-dir>/<tag>/model.onnx` and `training.json`;
`evaluate-signature` scores the runs on test writers and ships the better one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from functions.imaging.signature_preprocessing import to_network_input
from functions.steps.signature import aggregate_distance

from ..common.onnx_export import export_onnx, parity
from .augment import AugmentConfig, augment, forgery_like
from .data import DEFAULT_DATA, DEFAULT_WORK_DIR, SignatureSet, load_signature_set, split_writers
from .nets import PaperSignatureCNN, SigmoidOutput, count_parameters
from .trials import TrialScores, eer, make_trials, reference_spread, trial_distances


def parse_size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def to_batch(canvases: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    arr = np.stack([to_network_input(c, *size) for c in canvases]).astype(np.float32) / 255.0
    return torch.from_numpy(arr[:, None])


# ---------------------------------------------------------------- paper CNN


def cnn_pairs(train: SignatureSet, rng: np.random.Generator, aug: AugmentConfig):
    """(questioned, reference, label) index pairs for one epoch; -1 as questioned means a synthetic forgery of the reference."""
    pairs = []
    writers = sorted(set(train.writers.tolist()))
    for w in writers:
        g = np.flatnonzero((train.writers == w) & train.genuine)
        f = np.flatnonzero((train.writers == w) & ~train.genuine)
        others = np.flatnonzero((train.writers != w) & train.genuine)
        for ref in g:
            for q in rng.choice(g[g != ref], size=2, replace=False):
                pairs.append((int(q), int(ref), 1.0))
            if len(f):
                pairs.append((int(rng.choice(f)), int(ref), 0.0))
            pairs.append((int(rng.choice(others)), int(ref), 0.0))
            if aug.forgery_like and rng.random() < 0.5:
                pairs.append((-1, int(ref), 0.0))
    return [pairs[i] for i in rng.permutation(len(pairs))]


def pair_tensor(train: SignatureSet, pairs, rng, aug: AugmentConfig, size) -> tuple[torch.Tensor, torch.Tensor]:
    qs, rs, ys = [], [], []
    for q, r, y in pairs:
        ref = train.canvases[r]
        questioned = forgery_like(ref, rng) if q < 0 else train.canvases[q]
        qs.append(augment(questioned, rng, aug))
        rs.append(augment(ref, rng, aug))
        ys.append(y)
    x = torch.cat([to_batch(qs, size), to_batch(rs, size)], dim=1)
    return x, torch.tensor(ys, dtype=torch.float32)


def cnn_probabilities(net: nn.Module, canvases: np.ndarray, q: np.ndarray, r: np.ndarray, size, batch: int = 256) -> np.ndarray:
    net.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(q), batch):
            x = torch.cat([to_batch(list(canvases[q[s : s + batch]]), size), to_batch(list(canvases[r[s : s + batch]]), size)], dim=1)
            out.append(torch.sigmoid(net(x)).numpy())
    return np.concatenate(out)


def cnn_val_eer(net: nn.Module, val: SignatureSet, size) -> float:
    """Validation EER (skilled) under the pair nets' serving rule: mean distance over the references' spread."""
    trials = make_trials(val)
    distance = lambda q, r: 1.0 - cnn_probabilities(net, val.canvases, q, r, size)
    dist = trial_distances(trials, distance)
    spread = reference_spread(trials, distance)
    scores = TrialScores(-np.array([aggregate_distance(d, "mean_over_spread", sp) for d, sp in zip(dist, spread)]), np.array([t.kind for t in trials]))
    return eer(scores.of("genuine"), scores.of("skilled"))[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_export train-signature", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where runs are written (outside the repository)")
    p.add_argument("--tag", default="cnn", help="run folder name")
    p.add_argument("--epochs", type=int, default=40, help="40 as the paper")
    p.add_argument("--input-size", default="64x128", help="network input HxW (the canvas is resized to it)")
    p.add_argument("--augment", default="full", help="none, natural or full; drop parts with -name, e.g. full-elastic (see augment.py)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    size = parse_size(args.input_size)
    aug = AugmentConfig.named(args.augment)
    out_dir = args.work_dir / args.tag
    out_dir.mkdir(parents=True, exist_ok=True)

    data = load_signature_set(args.data)
    split = split_writers(data.writers.tolist())
    train, val = data.subset(split.train), data.subset(split.val)

    widths = "8,16,16,32,32"
    net = PaperSignatureCNN()
    epochs, lr = args.epochs, args.lr
    optimizer = torch.optim.RMSprop(net.parameters(), lr=lr)

    history = []
    best = (float("inf"), -1)
    best_state = None
    started = time.time()
    for epoch in range(1, epochs + 1):
        net.train()
        losses = []
        pairs = cnn_pairs(train, rng, aug)
        for s in tqdm(range(0, len(pairs), 64), desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False):
            x, y = pair_tensor(train, pairs[s : s + 64], rng, aug, size)
            loss = F.binary_cross_entropy_with_logits(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        v = cnn_val_eer(net, val, size)
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_eer_skilled": v, "seconds": round(time.time() - started, 1)})
        print(f"epoch {epoch}: loss {np.mean(losses):.4f}  val EER (skilled) {v:.4f}  {time.time() - started:.0f}s", flush=True)
        if v <= best[0]:
            best = (v, epoch)
            best_state = {k: t.detach().clone() for k, t in net.state_dict().items()}

    net.load_state_dict(best_state)
    served = SigmoidOutput(net)
    export_onnx(served, out_dir / "model.onnx", input_name="pair", input_shape=(2, *size), output_name="probability", dummy_batch=2)
    check = pair_tensor(val, [(int(q), int(r), 1.0) for q, r in zip(range(0, 64, 2), range(1, 64, 2))], rng, AugmentConfig.named("none"), size)[0]
    parity(served, out_dir / "model.onnx", check.numpy(), tolerance=1e-4)
    info = {
        "net": "cnn",
        "architecture": type(net).__name__,
        "widths": widths,
        "parameters": count_parameters(net),
        "input_size": list(size),
        "augment": args.augment,
        "epochs": epochs,
        "best_epoch": best[1],
        "best_val_eer_skilled": best[0],
        "optimizer": type(optimizer).__name__,
        "lr": lr,
        "seed": args.seed,
        "threads": args.threads,
        "train_seconds": round(time.time() - started, 1),
        "split": split.to_dict(),
        "history": history,
    }
    (out_dir / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"best epoch {best[1]} (val EER skilled {best[0]:.4f}); wrote {out_dir / 'model.onnx'}")
    return 0
