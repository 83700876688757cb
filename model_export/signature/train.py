"""`python -m model_export signature train`: the writer-independent feature network on every set's training writers.

Loss: additive-margin softmax over classes that are a writer's genuine
signatures (one class per training writer) and, as hard negatives, that
writer's skilled forgeries (one more class per writer), so a forgery must
land away from the writer it imitates. Synthetic forgeries add to those: a
share of each batch's genuine signatures is bent by a smooth random warp
(a hand imitating the shape, not the writer's own variation) and labelled as
that writer's forgery class.

Capture invariance: every canvas has its strokes redrawn at one width
(`normalise_strokes`, as serving does for this model), and each training image
is drawn, with `--capture-share`, as one of its renderings as a pen-pad
signature, a phone photo or a faint scan (capture.py) instead of the scan.
With `--mirror-writers` every training writer is also drawn mirrored left to
right, as a writer of its own with its own (mirrored) forgeries: twice the
writers to tell apart, each mirrored writer as consistent as the real one.
`--writer-copies 4` adds the writer drawn upside down and turned half a turn
(four writers from each).
Augmentation: rotation, scale, slant and shift of each batch. AdamW with a
one-cycle schedule. After each epoch the validation writers are scored with
the service's distance rule, scans and pad renderings; the epoch with the
lowest pooled skilled-forgery EER (one threshold for every writer, as the
service runs; scans and pads averaged) plus pooled random EER is kept as
`best.pt`.

Writers: by default the training writers of splits.json, validated on its
validation writers. `--fold K` trains on the development writers outside
fold K and validates on fold K; `--final` trains on every development writer
(no validation). Both keep the last epoch, so that the out-of-fold scores of
the fold networks speak for the final network trained the same way.

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

from functions.biometrics.signature_preparation import STROKE_WIDTH, normalise_strokes, to_network_input

from ..common.paths import RUNS_DIR
from ..common.provenance import not_shipped
from .data import DEFAULT_DATA, N_FOLDS, SPLITS_FILE, default_cache, development_writers, fold_writers, load_signatures, load_splits, load_variant, writers_of
from .nets import INPUT_HEIGHT, INPUT_WIDTH, MarginClassifier, SignatureFeatureNet, count_parameters
from .trials import make_trials, rule_scores, score_trials, summarise

DISTANCE_RULE = {"rule": "distance_over_spread"}


COPY_FLIPS = ((), (3,), (2,), (2, 3))  # a writer as drawn, mirrored left to right, upside down, turned half a turn


def draw_copies(x: torch.Tensor, copy: torch.Tensor) -> torch.Tensor:
    """Each image drawn as its writer's copy: 0 as is, 1 mirrored, 2 upside down, 3 turned half a turn."""
    for k, dims in enumerate(COPY_FLIPS[1:], start=1):
        pick = copy == k
        if pick.any():
            x[pick] = torch.flip(x[pick], dims=list(dims))
    return x


def network_view(canvas: np.ndarray, stroke_width: int, two_channels: bool) -> np.ndarray:
    """What the network reads of a canvas: the canvas, its strokes redrawn at one width, or both as two channels (H, W, 2)."""
    if not stroke_width:
        return canvas
    strokes = normalise_strokes(canvas, stroke_width)
    return np.dstack([canvas, strokes]) if two_channels else strokes


def to_tensor(canvases: np.ndarray, size: tuple[int, int], stroke_width: int = 0, two_channels: bool = False) -> torch.Tensor:
    """Canvases as the network sees them, at its input size (height, width), uint8 (N, C, H, W)."""
    views = np.stack([to_network_input(network_view(c, stroke_width, two_channels), *size) for c in canvases])
    return torch.from_numpy(views).unsqueeze(1) if views.ndim == 3 else torch.from_numpy(views).permute(0, 3, 1, 2).contiguous()


def smooth_warp(x: torch.Tensor, gen: torch.Generator, strength: float, tremor: float = 0.0) -> torch.Tensor:
    """A smooth random displacement of each image (a coarse 3x6 field, upsampled): the shape bent as an imitation bends it;
    with `tremor`, also a fine 12x24 field: the shaky line of slow, careful drawing."""
    n, _, h, w = x.shape
    field = (torch.rand(n, 2, 3, 6, generator=gen) * 2 - 1) * strength
    field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=True)
    if tremor > 0:
        fine = (torch.rand(n, 2, 12, 24, generator=gen) * 2 - 1) * tremor
        field = field + F.interpolate(fine, size=(h, w), mode="bicubic", align_corners=True)
    field = field.permute(0, 2, 3, 1)
    identity = F.affine_grid(torch.eye(2, 3).unsqueeze(0).expand(n, 2, 3), [n, 1, h, w], align_corners=False)
    return F.grid_sample(x, identity + field, align_corners=False, padding_mode="zeros")


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
    who = p.add_mutually_exclusive_group()
    who.add_argument("--fold", type=int, default=None, help=f"train on the development writers outside this fold (0..{N_FOLDS - 1}), validate on it")
    who.add_argument("--final", action="store_true", help="train on every development writer (train + validation), no validation")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--input-size", default=f"{INPUT_HEIGHT}x{INPUT_WIDTH}", help="network input HxW (the 128x256 canvas is resized to it)")
    p.add_argument("--balance-sets", action="store_true", help="draw each epoch's images so every set weighs the same")
    p.add_argument("--stroke-width", type=int, default=STROKE_WIDTH, help="redraw strokes at this width on the canvas (0: the canvas as is)")
    p.add_argument("--two-channels", action="store_true", help="input = the canvas and its strokes redrawn at --stroke-width")
    p.add_argument("--captures", default="pad,photo,faint", help="capture renderings drawn instead of the scan (comma-separated; empty: none)")
    p.add_argument("--capture-share", type=float, default=0.5, help="share of training images drawn as one of the captures")
    p.add_argument("--synthetic-forgeries", type=float, default=0.1, help="share of each batch's genuine signatures warped into a forgery")
    p.add_argument("--warp", type=float, default=0.08, help="strength of the synthetic forgeries' warp (share of the image)")
    p.add_argument("--mirror-writers", action="store_true",
                   help="also train on every training writer mirrored left to right, as a writer of its own (twice the writers)")
    p.add_argument("--writer-copies", type=int, choices=(1, 2, 3, 4), default=None,
                   help="writers drawn from each training writer: 2 adds it mirrored, 3 upside down, 4 turned half a turn (default: 2 with --mirror-writers, else 1)")
    p.add_argument("--tremor", type=float, default=0.0, help="strength of the synthetic forgeries' fine tremor (share of the image)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    not_shipped(args.run)
    args.run.mkdir(parents=True, exist_ok=True)
    size = tuple(int(v) for v in args.input_size.lower().split("x"))
    log = open(args.run / "train.log", "a")

    def say(msg: str) -> None:
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    cache = args.cache or default_cache()
    data = load_signatures(args.data, cache)
    splits = load_splits(args.splits)
    sets = [s for s in splits["sets"] if s != args.exclude_set]
    if args.fold is not None:
        held_out = fold_writers(splits, args.fold, sets)
        train_writers = sorted(set(development_writers(splits, sets)) - set(held_out))
    elif args.final:
        held_out, train_writers = [], development_writers(splits, sets)
    else:
        held_out, train_writers = writers_of(splits, "val", sets), writers_of(splits, "train", sets)
    keep_last = args.fold is not None or args.final
    train_idx = np.flatnonzero(np.isin(data.writers, train_writers))
    val_idx = np.flatnonzero(np.isin(data.writers, held_out))
    train, val = data.take(train_idx), data.take(val_idx)
    pad_canvases, _ = load_variant(args.data, data, cache, "pad", sorted(set(data.writers.tolist())))
    captures = [c for c in args.captures.split(",") if c]
    capture_tensors = []
    for name in captures:
        canvases, valid = load_variant(args.data, data, cache, name, development_writers(splits))
        say(f"capture {name}: {int(valid[train_idx].sum())} of {len(train_idx)} training images rendered")
        capture_tensors.append(to_tensor(canvases[train_idx], size, args.stroke_width, args.two_channels))
    writer_ids = sorted(set(train.writers.tolist()))
    index = {w: i for i, w in enumerate(writer_ids)}
    labels = torch.tensor([index[w] + (0 if g else len(writer_ids)) for w, g in zip(train.writers, train.genuine)])
    x_train = to_tensor(train.canvases, size, args.stroke_width, args.two_channels)
    x_val = to_tensor(val.canvases, size, args.stroke_width, args.two_channels) if len(val_idx) else None
    x_val_pad = to_tensor(pad_canvases[val_idx], size, args.stroke_width, args.two_channels) if len(val_idx) else None
    channels = int(x_train.shape[1])
    counts = {name: int(np.sum(train.sets == name)) for name in sets}
    set_weights = torch.tensor([1.0 / counts[name] for name in train.sets], dtype=torch.double)
    val_trials = make_trials(val.sets, val.writers, val.genuine, sorted(set(val.writers.tolist()))) if len(val_idx) else []
    net = SignatureFeatureNet(in_channels=channels)
    n_writers = len(writer_ids)
    copies = args.writer_copies or (2 if args.mirror_writers else 1)  # each transformed copy of a training writer is a writer of its own
    head = MarginClassifier(net.project[2].num_features, 2 * n_writers * copies)
    opt = torch.optim.AdamW(list(net.parameters()) + list(head.parameters()), lr=args.lr, weight_decay=5e-4)
    steps = args.epochs * math.ceil(copies * len(labels) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    say(f"train images {len(labels)} writers {len(writer_ids)} val images {len(val_idx)} params {count_parameters(net)} sets {sets}")
    history, best, t0 = [], None, time.time()
    for epoch in range(1, args.epochs + 1):
        net.train()
        if args.balance_sets:
            order = torch.multinomial(set_weights.repeat(copies), copies * len(labels), replacement=True, generator=gen)
        else:
            order = torch.randperm(copies * len(labels), generator=gen)
        total, seen, te = 0.0, 0, time.time()
        for i in range(0, len(order), args.batch):
            drawn = order[i : i + args.batch]
            if len(drawn) < 2:
                continue
            idx, copy = drawn % len(labels), drawn // len(labels)
            x = x_train[idx]
            if capture_tensors:  # some images as a pad, photo or faint-scan capture instead of the scan
                use = torch.rand(len(idx), generator=gen) < args.capture_share
                which = torch.randint(len(capture_tensors), (len(idx),), generator=gen)
                x = x.clone()
                for k, tensors in enumerate(capture_tensors):
                    pick = use & (which == k)
                    x[pick] = tensors[idx[pick]]
            x = x.float() / 255.0
            x = draw_copies(x, copy)
            x = augment(x, gen)
            y = labels[idx].clone() + 2 * n_writers * copy
            if args.synthetic_forgeries > 0:  # warped genuine signatures as forgeries of their writer
                fake = (y % (2 * n_writers) < n_writers) & (torch.rand(len(idx), generator=gen) < args.synthetic_forgeries)
                if fake.any():
                    x[fake] = smooth_warp(x[fake], gen, args.warp, args.tremor)
                    y[fake] += n_writers
            loss = head(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        row = {"epoch": epoch, "loss": total / seen, "epoch_seconds": round(time.time() - te, 1)}
        if val_trials:
            scored = rule_scores(score_trials(val_trials, embed(net, x_val), None), DISTANCE_RULE)
            summary = summarise(scored, val_trials)["all"]
            pad = summarise(rule_scores(score_trials(val_trials, embed(net, x_val_pad), None), DISTANCE_RULE), val_trials)["all"]
            row |= {"val_skilled": summary["skilled"]["eer_writer_mean"],
                    "val_random": summary["random"]["eer_writer_mean"], "val_skilled_pooled": summary["skilled"]["eer_pooled"],
                    "val_random_pooled": summary["random"]["eer_pooled"], "val_pad_skilled_pooled": pad["skilled"]["eer_pooled"],
                    "val_pad_random_pooled": pad["random"]["eer_pooled"]}
        row["elapsed"] = round(time.time() - t0, 1)
        history.append(row)
        say(json.dumps(row))
        checkpoint = {"net": net.state_dict(), "epoch": epoch, "input": list(size), "stroke_width": args.stroke_width, "channels": channels}
        torch.save(checkpoint, args.run / f"epoch{epoch:02d}.pt")
        key = -epoch if keep_last else (row["val_skilled_pooled"] + row["val_pad_skilled_pooled"]) / 2 + row["val_random_pooled"]
        if best is None or key < best[0]:
            best = (key, epoch)
            torch.save(checkpoint, args.run / "best.pt")
    protocol = f"fold {args.fold} of {N_FOLDS}" if args.fold is not None else "final: every development writer" if args.final else "fixed split"
    (args.run / "history.json").write_text(json.dumps({"history": history, "best_epoch": best[1], "sets": sets, "threads": args.threads,
                                                       "protocol": protocol, "fold": args.fold, "train_writers": len(writer_ids),
                                                       "kept": "last epoch" if keep_last else "best validation epoch",
                                                       "stroke_width": args.stroke_width, "channels": channels, "captures": captures,
                                                       "capture_share": args.capture_share, "synthetic_forgeries": args.synthetic_forgeries,
                                                       "warp": args.warp, "tremor": args.tremor, "mirror_writers": args.mirror_writers, "writer_copies": copies,
                                                       "train_seconds": round(time.time() - t0, 1),
                                                       "args": {k: str(v) for k, v in vars(args).items()}}, indent=1))
    say(f"done: best epoch {best[1]} in {time.time() - t0:.0f} s")
    return 0
