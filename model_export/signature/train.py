"""`python -m model_export signature train`: the writer-independent feature network on every set's training writers.

Loss: additive-margin softmax over classes that are a writer's genuine
signatures (one class per training writer) and, as hard negatives, that
writer's skilled forgeries (one more class per writer), so a forgery must
land away from the writer it imitates. Augmentation: rotation, scale, slant
and shift of each batch. AdamW with a one-cycle schedule. After each epoch
the validation writers are scored with the service's distance rule; the epoch
with the lowest mean per-writer EER (skilled + random) is kept as `best.pt`.

`--exclude-set NAME` leaves one set out of training (the cross-set runs).
Torch uses 2 threads: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from functions.biometrics.signature_preparation import to_network_input

from ..common.paths import RUNS_DIR
from ..common.provenance import not_shipped
from .data import DEFAULT_DATA, SPLITS_FILE, load_signatures, load_splits, writers_of
from .nets import INPUT_HEIGHT, INPUT_WIDTH, MarginClassifier, SignatureFeatureNet, count_parameters
from .trials import make_trials, rule_scores, score_trials, summarise

DISTANCE_RULE = {"rule": "distance_over_spread"}


def to_tensor(canvases: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Canvases at the network's input size (height, width), uint8 (N, 1, H, W)."""
    return torch.from_numpy(np.stack([to_network_input(c, *size) for c in canvases])).unsqueeze(1)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random rotation, scale, slant and shift of a batch (float 0..1), as one writer varies."""
    n = x.shape[0]

    def r(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    angle, scale, shear = r(-0.09, 0.09), r(0.88, 1.08), r(-0.15, 0.15)
    tx, ty = r(-0.06, 0.06), r(-0.08, 0.08)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


@torch.no_grad()
def embed(net: SignatureFeatureNet, images: torch.Tensor, batch: int = 256) -> np.ndarray:
    net.eval()
    return np.concatenate([net(images[i : i + batch].float() / 255.0).numpy() for i in range(0, len(images), batch)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_export signature train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding sign_data/, bhsig_bengali/, bhsig_hindi/, cedar/")
    p.add_argument("--cache", type=Path, default=None, help="canvas cache (default: model_export/cache/signature/)")
    p.add_argument("--splits", type=Path, default=SPLITS_FILE)
    p.add_argument("--run", type=Path, default=RUNS_DIR / "signature", help="run folder for the checkpoints and history")
    p.add_argument("--exclude-set", default=None, help="leave this set out of training and validation")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--input-size", default=f"{INPUT_HEIGHT}x{INPUT_WIDTH}", help="network input HxW (the 128x256 canvas is resized to it)")
    p.add_argument("--balance-sets", action="store_true", help="draw each epoch's images so every set weighs the same")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    not_shipped(args.run)
    args.run.mkdir(parents=True, exist_ok=True)
    log = open(args.run / "train.log", "a")

    def say(msg: str) -> None:
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    data = load_signatures(args.data, args.cache)
    splits = load_splits(args.splits)
    sets = [s for s in splits["sets"] if s != args.exclude_set]
    train = data.of_writers(writers_of(splits, "train", sets))
    val = data.of_writers(writers_of(splits, "val", sets))
    writer_ids = sorted(set(train.writers.tolist()))
    index = {w: i for i, w in enumerate(writer_ids)}
    labels = torch.tensor([index[w] + (0 if g else len(writer_ids)) for w, g in zip(train.writers, train.genuine)])
    size = tuple(int(v) for v in args.input_size.lower().split("x"))
    x_train, x_val = to_tensor(train.canvases, size), to_tensor(val.canvases, size)
    counts = {name: int(np.sum(train.sets == name)) for name in sets}
    set_weights = torch.tensor([1.0 / counts[name] for name in train.sets], dtype=torch.double)
    val_trials = make_trials(val.sets, val.writers, val.genuine, sorted(set(val.writers.tolist())))
    net = SignatureFeatureNet()
    head = MarginClassifier(net.project[2].num_features, 2 * len(writer_ids))
    opt = torch.optim.AdamW(list(net.parameters()) + list(head.parameters()), lr=args.lr, weight_decay=5e-4)
    steps = args.epochs * math.ceil(len(labels) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    say(f"train images {len(labels)} writers {len(writer_ids)} val images {len(x_val)} params {count_parameters(net)} sets {sets}")
    history, best, t0 = [], None, time.time()
    for epoch in range(1, args.epochs + 1):
        net.train()
        if args.balance_sets:
            order = torch.multinomial(set_weights, len(labels), replacement=True, generator=gen)
        else:
            order = torch.randperm(len(labels), generator=gen)
        total, seen, te = 0.0, 0, time.time()
        for i in range(0, len(order), args.batch):
            idx = order[i : i + args.batch]
            if len(idx) < 2:
                continue
            loss = head(net(augment(x_train[idx].float() / 255.0, gen)), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        scored = rule_scores(score_trials(val_trials, embed(net, x_val), None), DISTANCE_RULE)
        summary = summarise(scored, val_trials)["all"]
        row = {"epoch": epoch, "loss": total / seen, "val_skilled": summary["skilled"]["eer_writer_mean"],
               "val_random": summary["random"]["eer_writer_mean"], "val_skilled_pooled": summary["skilled"]["eer_pooled"],
               "epoch_seconds": round(time.time() - te, 1), "elapsed": round(time.time() - t0, 1)}
        history.append(row)
        say(json.dumps(row))
        torch.save({"net": net.state_dict(), "epoch": epoch, "input": list(size)}, args.run / f"epoch{epoch:02d}.pt")
        key = row["val_skilled"] + row["val_random"]
        if best is None or key < best[0]:
            best = (key, epoch)
            torch.save({"net": net.state_dict(), "epoch": epoch, "input": list(size)}, args.run / "best.pt")
    (args.run / "history.json").write_text(json.dumps({"history": history, "best_epoch": best[1], "sets": sets, "threads": args.threads,
                                                       "train_seconds": round(time.time() - t0, 1),
                                                       "args": {k: str(v) for k, v in vars(args).items()}}, indent=1))
    say(f"done: best epoch {best[1]} in {time.time() - t0:.0f} s")
    return 0
