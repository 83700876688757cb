"""Train a signature verifier on training writers, pick the epoch on validation writers, export ONNX.

    python -m model_export train-signature --net siamese
    python -m model_export train-signature --net cnn

`siamese`: the twin embedding network with a contrastive loss. Each batch
holds a few writers' genuine signatures and forgeries; every pair inside the
batch is used: genuine-genuine of one writer (pull together), genuine vs that
writer's skilled forgery, and genuine vs another writer's genuine (a random
forgery) (push apart beyond a margin).

`cnn`: the seed paper's small CNN, on pairs stacked as two channels, binary
cross-entropy, RMSprop, 40 epochs.

`pair`: the same pairs and loss through a wider batch-norm network
(PairSignatureCNN, `--widths`), AdamW with a cosine schedule.

The run writes `<work-dir>/<tag>/model.onnx` and `training.json`; the
evaluation command compares the runs and ships the better one.
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

from .augment import AugmentConfig, augment, forgery_like
from .data import DEFAULT_DATA, DEFAULT_WORK_DIR, SignatureSet, load_signature_set, split_writers
from .nets import PairSignatureCNN, PaperSignatureCNN, SigmoidOutput, SignatureEmbeddingNet, count_parameters
from .trials import TrialScores, eer, make_trials, reference_spread, trial_distances

CONTRASTIVE_MARGIN = 1.0


def parse_size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def to_batch(canvases: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    arr = np.stack([to_network_input(c, *size) for c in canvases]).astype(np.float32) / 255.0
    return torch.from_numpy(arr[:, None])


# ---------------------------------------------------------------- twin network


def contrastive_batch_loss(emb: torch.Tensor, writer_ids: torch.Tensor, genuine: torch.Tensor) -> torch.Tensor:
    """Contrastive loss over every pair in the batch that has a genuine signature on one side.

    Positives: two genuine signatures of one writer. Negatives: a genuine
    signature vs a forgery of the same writer (skilled), and vs another
    writer's genuine signature (random). The three groups are averaged
    separately so the many random pairs do not drown the skilled ones.
    """
    d = torch.cdist(emb, emb).clamp_min(1e-9)
    same_writer = writer_ids[:, None] == writer_ids[None, :]
    both_genuine = genuine[:, None] & genuine[None, :]
    upper = torch.triu(torch.ones_like(same_writer), diagonal=1)
    positive = same_writer & both_genuine & upper
    skilled = same_writer & (genuine[:, None] ^ genuine[None, :])
    random = ~same_writer & both_genuine & upper
    loss_pos = d[positive].pow(2).mean()
    hinge = lambda m: F.relu(CONTRASTIVE_MARGIN - d[m]).pow(2).mean() if m.any() else d.new_zeros(())
    return loss_pos + 0.5 * (hinge(skilled) + hinge(random))


def siamese_batches(train: SignatureSet, rng: np.random.Generator, aug: AugmentConfig, writers_per_batch: int, genuine_per_writer: int, forged_per_writer: int):
    """One epoch of batches: each training writer appears about equally often."""
    writers = sorted(set(train.writers.tolist()))
    order = rng.permutation(writers)
    repeats = max(1, int(np.ceil(np.mean([np.sum((train.writers == w) & train.genuine) for w in writers]) / genuine_per_writer)))
    order = np.concatenate([rng.permutation(writers) for _ in range(repeats)])
    for start in range(0, len(order) - writers_per_batch + 1, writers_per_batch):
        canvases, wid, gen = [], [], []
        for k, w in enumerate(order[start : start + writers_per_batch]):
            g = np.flatnonzero((train.writers == w) & train.genuine)
            f = np.flatnonzero((train.writers == w) & ~train.genuine)
            for i in rng.choice(g, size=min(genuine_per_writer, len(g)), replace=False):
                canvases.append(augment(train.canvases[i], rng, aug))
                wid.append(k), gen.append(True)
            for i in rng.choice(f, size=min(forged_per_writer, len(f)), replace=False):
                canvases.append(augment(train.canvases[i], rng, aug))
                wid.append(k), gen.append(False)
            if aug.forgery_like:
                i = rng.choice(g)
                canvases.append(augment(forgery_like(train.canvases[i], rng), rng, aug))
                wid.append(k), gen.append(False)
        yield canvases, torch.tensor(wid), torch.tensor(gen)


def embed(net: nn.Module, canvases: np.ndarray, size: tuple[int, int], batch: int = 128) -> np.ndarray:
    net.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(canvases), batch):
            out.append(net(to_batch(list(canvases[s : s + batch]), size)).numpy())
    return np.concatenate(out)


def siamese_val_eer(net: nn.Module, val: SignatureSet, size) -> float:
    emb = embed(net, val.canvases, size)
    trials = make_trials(val)
    dist = trial_distances(trials, lambda q, r: np.linalg.norm(emb[q] - emb[r], axis=1))
    scores = TrialScores(-dist.mean(axis=1), np.array([t.kind for t in trials]))
    return eer(scores.of("genuine"), scores.of("skilled"))[0]


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


# ---------------------------------------------------------------- export


def export_onnx(net: nn.Module, path: Path, in_channels: int, size: tuple[int, int], input_name: str, output_name: str) -> None:
    net.eval()
    dummy = torch.zeros(2, in_channels, *size)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        net,
        (dummy,),
        str(path),
        input_names=[input_name],
        output_names=[output_name],
        dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_export train-signature", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net", choices=("siamese", "cnn", "pair"), default="siamese")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where runs are written (outside the repository)")
    p.add_argument("--tag", default=None, help="run folder name (default: the net's name)")
    p.add_argument("--epochs", type=int, default=None, help="default: 30 for siamese, 40 for cnn (as the paper), 20 for pair")
    p.add_argument("--input-size", default="64x128", help="network input HxW (the canvas is resized to it)")
    p.add_argument("--augment", default="full", help="none, natural or full; drop parts with -name, e.g. full-elastic (see signature_augment.py)")
    p.add_argument("--widths", default=None, help="siamese / pair: channels of the five conv stages (default 32,64,96,128,128 / 16,32,64,96,128)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    size = parse_size(args.input_size)
    aug = AugmentConfig.named(args.augment)
    tag = args.tag or args.net
    out_dir = args.work_dir / tag
    out_dir.mkdir(parents=True, exist_ok=True)

    data = load_signature_set(args.data)
    split = split_writers(data.writers.tolist())
    train, val = data.subset(split.train), data.subset(split.val)

    if args.net == "siamese":
        widths = args.widths or "32,64,96,128,128"
        net: nn.Module = SignatureEmbeddingNet(widths=tuple(int(v) for v in widths.split(",")))
        epochs = args.epochs or 30
        lr = args.lr or 1e-3
        optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        val_eer = lambda m: siamese_val_eer(m, val, size)
    elif args.net == "pair":
        widths = args.widths or "16,32,64,96,128"
        net = PairSignatureCNN(widths=tuple(int(v) for v in widths.split(",")))
        epochs = args.epochs or 20
        lr = args.lr or 2e-3
        optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        val_eer = lambda m: cnn_val_eer(m, val, size)
    else:
        widths = "8,16,16,32,32"
        net = PaperSignatureCNN()
        epochs = args.epochs or 40
        lr = args.lr or 1e-3
        optimizer = torch.optim.RMSprop(net.parameters(), lr=lr)
        scheduler = None
        val_eer = lambda m: cnn_val_eer(m, val, size)

    history = []
    best = (float("inf"), -1)
    best_state = None
    started = time.time()
    for epoch in range(1, epochs + 1):
        net.train()
        losses = []
        if args.net == "siamese":
            batches = list(siamese_batches(train, rng, aug, writers_per_batch=8, genuine_per_writer=4, forged_per_writer=2))
            for canvases, wid, gen in tqdm(batches, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False):
                loss = contrastive_batch_loss(net(to_batch(canvases, size)), wid, gen)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        else:
            pairs = cnn_pairs(train, rng, aug)
            for s in tqdm(range(0, len(pairs), 64), desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False):
                x, y = pair_tensor(train, pairs[s : s + 64], rng, aug, size)
                loss = F.binary_cross_entropy_with_logits(net(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        if scheduler:
            scheduler.step()
        v = val_eer(net)
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_eer_skilled": v, "seconds": round(time.time() - started, 1)})
        print(f"epoch {epoch}: loss {np.mean(losses):.4f}  val EER (skilled) {v:.4f}  {time.time() - started:.0f}s", flush=True)
        if v <= best[0]:
            best = (v, epoch)
            best_state = {k: t.detach().clone() for k, t in net.state_dict().items()}

    net.load_state_dict(best_state)
    if args.net == "siamese":
        export_onnx(net, out_dir / "model.onnx", 1, size, "signature", "embedding")
    else:
        export_onnx(SigmoidOutput(net), out_dir / "model.onnx", 2, size, "pair", "probability")
    info = {
        "net": args.net,
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
