"""Train a face anti-spoofing classifier on NUAA context crops, export it to ONNX and calibrate its thresholds.

`python -m model_export train-antispoof --variant compact_am`

One run = one variant of model_export/antispoof/cnn_variants.json. The run folder
(model_export/runs/antispoof/<variant>/) gets checkpoints, the training history,
`model.onnx` and a `manifest.json` whose thresholds come from the validation
subjects (held out of train by person). The test split (dev) is never read here.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from functions.manifests import InputSpec, ModelManifest, sha256_file, write_manifest
from functions.runtime.models import OnnxModel
from functions.settings import REPO_ROOT, get_settings
from functions.steps.antispoof import MODEL_NAME, prepare_input

from ..common.metrics import calibrate_thresholds, equal_error_rate, error_rates
from .data import DEFAULT_CACHE, DEFAULT_DATA, cache_dir_for, ensure_cache, load_split, train_val_split

DEFAULT_CONFIG = REPO_ROOT / "model_export" / "antispoof" / "cnn_variants.json"
DEFAULT_RUNS = REPO_ROOT / "model_export" / "runs" / "antispoof"


def input_spec(config: dict, variant: dict | None = None) -> InputSpec:
    size = int((variant or {}).get("input_size", config["input_size"]))
    return InputSpec(name="input", height=size, width=size, color="RGB", layout="NCHW", mean=tuple(config["mean"]), std=tuple(config["std"]))


# ---------------------------------------------------------------------------
# Augmentation (numpy / OpenCV, on uint8 RGB)
# ---------------------------------------------------------------------------


def add_moire(image: np.ndarray, rng: np.random.Generator, amplitude: tuple[float, float]) -> np.ndarray:
    """A faint sinusoidal interference pattern, as a recaptured print or screen shows."""
    h, w = image.shape[:2]
    freq = rng.uniform(0.15, 0.45)
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = 2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + rng.uniform(0, 2 * np.pi)
    pattern = rng.uniform(*amplitude) * np.sin(phase)
    tint = rng.uniform(0.6, 1.0, size=3).astype(np.float32)
    return np.clip(image.astype(np.float32) + pattern[:, :, None] * tint, 0, 255).astype(np.uint8)


def augment(crop: np.ndarray, label: int, rng: np.random.Generator, spec: InputSpec, aug: dict) -> np.ndarray:
    """Random crop, flip, colour jitter, mild blur, JPEG recompression; moire on attacks only.

    Kept mild on purpose: strong blur or noise would erase the print texture the network must see.
    """
    import cv2

    side = int(round(crop.shape[0] * rng.uniform(aug["crop_min_side"], 1.0)))
    x0 = int(rng.integers(0, crop.shape[1] - side + 1))
    y0 = int(rng.integers(0, crop.shape[0] - side + 1))
    image = prepare_input(np.ascontiguousarray(crop[y0 : y0 + side, x0 : x0 + side]), spec)
    if rng.random() < aug["flip"]:
        image = image[:, ::-1]
    img = image.astype(np.float32)
    if aug.get("gamma"):
        img = 255.0 * (img / 255.0) ** rng.uniform(*aug["gamma"])
    if aug.get("channel_gain"):
        img = img * rng.uniform(1 - aug["channel_gain"], 1 + aug["channel_gain"], size=3).astype(np.float32)
    img = img * rng.uniform(1 - aug["brightness"], 1 + aug["brightness"])
    mean = img.mean()
    img = (img - mean) * rng.uniform(1 - aug["contrast"], 1 + aug["contrast"]) + mean
    gray = img.mean(axis=2, keepdims=True)
    img = (img - gray) * rng.uniform(1 - aug["saturation"], 1 + aug["saturation"]) + gray
    if rng.random() < aug.get("grayscale_p", 0.0):
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    image = np.clip(img, 0, 255).astype(np.uint8)
    if label == 0 and rng.random() < aug["moire_spoof_p"]:
        image = add_moire(image, rng, tuple(aug["moire_amplitude"]))
    if rng.random() < aug["blur_p"]:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(*aug["blur_sigma"]))
    if rng.random() < aug["jpeg_p"]:
        q = int(rng.integers(aug["jpeg_quality"][0], aug["jpeg_quality"][1] + 1))
        ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    return np.ascontiguousarray(image)


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


DEFAULT_TEACHER = REPO_ROOT.parent / "shared" / "data" / "minifasnet"


def load_teacher(teacher_dir: Path, context_scale: float, scales: list[float] | None = None):
    """The pretrained MiniFASNets as a teacher, fed from our own context crop.

    Each network wants the face box enlarged by its own scale (2.7, 4.0): the
    centre of our crop covering that scale is cut and resized to 80x80 BGR.
    """
    from .evaluate import BASELINE_MODELS
    from .nets import load_minifasnet

    nets = []
    for f, scale, version, se in BASELINE_MODELS:
        if scales is not None and scale not in scales:
            continue
        if scale > context_scale + 1e-6:
            raise ValueError(f"the teacher needs a context scale of at least {scale}, the run uses {context_scale}")
        nets.append((load_minifasnet(teacher_dir / f, version, se), scale / context_scale))
    return nets


def teacher_outputs_and_maps(teacher, images: list[np.ndarray]):
    """For a batch of RGB model-input images: the teacher networks' average live probability, their concatenated
    128-d embeddings, and the stage feature maps of the teacher that sees the whole context crop (None if none does)."""
    import cv2
    import torch

    live, embeddings, maps = 0, [], None
    for net, fraction in teacher:
        batch = []
        for img in images:
            side = int(round(img.shape[0] * fraction))
            o = (img.shape[0] - side) // 2
            crop = cv2.resize(np.ascontiguousarray(img[o : o + side, o : o + side]), (80, 80), interpolation=cv2.INTER_AREA)
            batch.append(crop[:, :, ::-1].transpose(2, 0, 1).astype(np.float32))
        embedding, stage_maps = net.embed_and_maps(torch.from_numpy(np.stack(batch)))
        live = live + torch.softmax(net.prob(embedding), dim=1)[:, 1]
        embeddings.append(embedding)
        if abs(fraction - 1.0) < 1e-6:
            maps = stage_maps
    return live / len(teacher), torch.cat(embeddings, dim=1), maps


def teacher_live_probability(teacher, images: list[np.ndarray]):
    """Average live probability of the teacher networks for a batch of RGB model-input images."""
    return teacher_outputs_and_maps(teacher, images)[0]


def mix_batch(images: list[np.ndarray], labels: np.ndarray, rng: np.random.Generator, alpha: float):
    """Mixup: each image blended with another of the batch; soft labels in proportion.

    For distillation the mixed images matter more than their labels: the
    teacher answers on inputs the training set does not hold, which shows the
    student more of the teacher's function than 7 people's frames can.
    """
    perm = rng.permutation(len(images))
    lam = rng.beta(alpha, alpha, size=len(images)).astype(np.float32)
    mixed = [np.clip(lam[i] * images[i].astype(np.float32) + (1 - lam[i]) * images[j].astype(np.float32), 0, 255).astype(np.uint8) for i, j in enumerate(perm)]
    soft = lam * labels.astype(np.float32) + (1 - lam) * labels[perm].astype(np.float32)
    return mixed, soft


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def predict_scores(net, crops: np.ndarray, spec: InputSpec, device, batch_size: int = 128) -> np.ndarray:
    """Probability of live for each cached crop, with the serving preprocessing and no augmentation."""
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(crops), batch_size):
            batch = spec.to_tensor([prepare_input(c, spec) for c in crops[i : i + batch_size]])
            logits = net(torch.from_numpy(batch).to(device))
            out.append(torch.softmax(logits, dim=1)[:, 1].cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def maybe_mixed(images: list[np.ndarray], labels: np.ndarray, rng: np.random.Generator, opts: dict):
    """The batch and its soft labels, mixed (mixup) with probability `mixup_p`."""
    if rng.random() < float(opts.get("mixup_p", 0.5)):
        return mix_batch(images, labels, rng, float(opts.get("mixup_alpha", 0.4)))
    return images, labels.astype(np.float32)


def soft_target_losses(logits, t_live, y_soft):
    """KL from the teacher's live probability to the student's, and cross-entropy against the (soft) labels."""
    import torch
    import torch.nn.functional as F

    log_p = F.log_softmax(logits, dim=1)
    kl = F.kl_div(log_p, torch.stack([1 - t_live, t_live], dim=1), reduction="batchmean")
    label_loss = -(y_soft * log_p[:, 1] + (1 - y_soft) * log_p[:, 0]).mean()
    return kl, label_loss


def function_matching_step(net, projector, hint_adapters, teacher, images, labels, rng, spec: InputSpec, device, fm: dict):
    """One batch of distillation by function matching: the student sees exactly what the teacher sees.

    Losses: KL from the teacher's live probability to the student's, cosine
    distance from the student's projected embedding to each teacher's
    embedding (the teacher's features, not only its answer), and a small
    label term. Half the batches are mixed images, on which only the teacher
    knows the answer.
    """
    import torch
    import torch.nn.functional as F

    images, soft = maybe_mixed(images, labels, rng, fm)
    x = torch.from_numpy(spec.to_tensor(images)).to(device)
    y_soft = torch.from_numpy(soft).to(device)
    with torch.no_grad():
        t_live, t_embedding, t_maps = teacher_outputs_and_maps(teacher, images)
    t_live, t_embedding = t_live.to(device), t_embedding.to(device)
    embedding, s_maps = net.features_and_maps(x)
    logits = net.logits(embedding)
    hint_loss = torch.zeros((), device=device)
    if hint_adapters is not None:
        # FitNets-style hints: each student stage, mapped by a 1x1 conv, predicts the teacher's stage output
        # (resampled to the student's grid), relative to the target's energy.
        for adapter, s_map, t_map in zip(hint_adapters, s_maps, t_maps):
            target = F.adaptive_avg_pool2d(t_map.to(device), s_map.shape[-2:])
            hint_loss = hint_loss + F.mse_loss(adapter(s_map), target) / target.pow(2).mean().clamp(min=1e-6)
        hint_loss = hint_loss / len(hint_adapters)
    kl, label_loss = soft_target_losses(logits, t_live, y_soft)
    predicted = projector(embedding).split(128, dim=1)
    targets = t_embedding.split(128, dim=1)
    embed_loss = sum(1 - F.cosine_similarity(p, t, dim=1).mean() for p, t in zip(predicted, targets)) / len(targets)
    loss = (
        float(fm.get("kl_weight", 1.0)) * kl
        + float(fm.get("embedding_weight", 1.0)) * embed_loss
        + float(fm.get("label_weight", 0.1)) * label_loss
        + float(fm.get("hint_weight", 0.0)) * hint_loss
    )
    return loss, label_loss, logits, (y_soft > 0.5).long()


def model_teacher_step(net, teacher_model, images, labels, rng, spec: InputSpec, device, opts: dict):
    """One batch of distillation from an exported model (e.g. the LBP-SVM candidate) run by onnxruntime.

    The student matches the teacher's live probability on the same augmented
    or mixed crops, with a small label term; the teacher is any model the
    service can run, so its own preprocessing applies.
    """
    import torch

    images, soft = maybe_mixed(images, labels, rng, opts)
    t_spec = teacher_model.manifest.input
    t_probs = teacher_model.run_images([prepare_input(img, t_spec) for img in images])[0]
    t_live = torch.from_numpy(t_probs[:, int(teacher_model.manifest.extra.get("live_class_index", 1))].astype(np.float32)).to(device)
    x = torch.from_numpy(spec.to_tensor(images)).to(device)
    y_soft = torch.from_numpy(soft).to(device)
    logits = net(x)
    kl, label_loss = soft_target_losses(logits, t_live, y_soft)
    loss = kl + float(opts.get("label_weight", 0.1)) * label_loss
    return loss, label_loss, logits, (y_soft > 0.5).long()


def train(config: dict, variant: str, run_dir: Path, cache_dir: Path, data_root: Path, device_name: str, threads: int, epochs: int | None) -> Path:
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from .nets import build_antispoof_net, similarity_loss

    torch.set_num_threads(threads)
    v = config["variants"][variant]
    seed_everything(int(config["seed"]))
    device = pick_device(device_name)
    spec = input_spec(config, v)
    aug = {**config["augment"], **v.get("augment", {})}
    epochs = int(epochs or v.get("epochs", config["epochs"]))
    batch_size = int(v.get("batch_size", config["batch_size"]))

    scale = float(v.get("context_scale", get_settings().context_scale))
    scale_cache = ensure_cache(data_root, cache_dir, splits=("train",), scale=scale)
    train_set, val_set = train_val_split(load_split(scale_cache, "train"), tuple(config["val_subjects"]))
    print(f"train {len(train_set)} crops ({sorted(set(train_set.subjects))}), val {len(val_set)} crops ({sorted(set(val_set.subjects))})")

    net_kwargs = {k: v[k] for k in ("am_scale", "am_margin", "invariant_stem", "grey") if k in v}
    net = build_antispoof_net(v["arch"], head=v["head"], **net_kwargs).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=float(config["lr"]), weight_decay=float(v.get("weight_decay", config["weight_decay"])))
    steps_per_epoch = int(np.ceil(len(train_set) / batch_size))
    sim_weight = float(v.get("similarity_weight", 0.0))
    rng = np.random.default_rng(int(config["seed"]))
    teacher, distill_weight, temperature = None, float(v.get("distill_weight", 0.0)), score_temperature(v)
    fm = v.get("function_matching")
    if distill_weight > 0 or fm:
        teacher = load_teacher(Path(v.get("teacher_dir", DEFAULT_TEACHER)), scale, v.get("teacher_scales"))
    model_teacher = None
    if v.get("model_teacher"):
        model_teacher = OnnxModel(REPO_ROOT / v["model_teacher"]["dir"])
    if fm:
        # Training-only heads (not exported): the student's embedding predicts each teacher's embedding, and
        # 1x1 adapters map its stages onto the teacher's for the hints.
        net.eval()
        with torch.no_grad():
            embedding, s_maps = net.features_and_maps(torch.zeros(2, spec.channels, spec.height, spec.width, device=device))
        projector = torch.nn.Linear(embedding.shape[1], 128 * len(teacher)).to(device)
        optimizer.add_param_group({"params": projector.parameters(), "weight_decay": 0.0})
        hint_adapters = None
        if float(fm.get("hint_weight", 0.0)) > 0:
            hint_adapters = torch.nn.ModuleList(
                [torch.nn.Conv2d(m.shape[1], t, kernel_size=1) for m, t in zip(s_maps, (64, 128, 128))]
            ).to(device)
            optimizer.add_param_group({"params": hint_adapters.parameters(), "weight_decay": 0.0})
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=float(config["lr"]), total_steps=epochs * steps_per_epoch, pct_start=0.15)

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps({"variant": variant, **v, "config": config}, indent=2))
    history, best = [], None
    started = time.time()
    for epoch in range(1, epochs + 1):
        net.train()
        order = rng.permutation(len(train_set))
        totals = {"loss": 0.0, "cls": 0.0, "sim": 0.0, "correct": 0, "n": 0}
        bar = tqdm(range(steps_per_epoch), desc=f"{variant} epoch {epoch}/{epochs}")
        for step in bar:
            idx = order[step * batch_size : (step + 1) * batch_size]
            labels = train_set.labels[idx]
            images = [augment(train_set.crops[i], int(l), rng, spec, aug) for i, l in zip(idx, labels)]
            if model_teacher is not None:
                loss, cls_loss, logits, y = model_teacher_step(net, model_teacher, images, labels, rng, spec, device, v["model_teacher"])
            elif fm:
                loss, cls_loss, logits, y = function_matching_step(net, projector, hint_adapters, teacher, images, labels, rng, spec, device, fm)
            else:
                x = torch.from_numpy(spec.to_tensor(images)).to(device)
                y = torch.from_numpy(labels).to(device)
                embedding = net.features(x)
                logits = net.logits(embedding, y)
                cls_loss = F.cross_entropy(logits, y)
                loss = cls_loss
            if teacher is not None and not fm:
                # Match the exported score (plain logits at the export temperature) to the teacher's live probability.
                with torch.no_grad():
                    target_live = teacher_live_probability(teacher, images)
                student = F.log_softmax(net.logits(embedding) / temperature, dim=1)
                soft = torch.stack([1 - target_live, target_live], dim=1).to(device)
                loss = loss + distill_weight * F.kl_div(student, soft, reduction="batchmean")
            sim = torch.zeros(())
            if sim_weight > 0:
                sim = similarity_loss(embedding, y)
                loss = loss + sim_weight * sim
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            totals["loss"] += float(loss) * len(idx)
            totals["cls"] += float(cls_loss) * len(idx)
            totals["sim"] += float(sim) * len(idx)
            totals["correct"] += int((logits.argmax(1) == y).sum())
            totals["n"] += len(idx)
            bar.set_postfix(loss=f"{totals['loss'] / totals['n']:.4f}", acc=f"{totals['correct'] / totals['n']:.3f}")

        val_scores = predict_scores(net, val_set.crops, spec, device)
        val_eer, val_thr = equal_error_rate(val_scores, val_set.labels)
        at_half = error_rates(val_scores, val_set.labels, 0.5)
        eps = 1e-6
        p = np.clip(val_scores, eps, 1 - eps)
        val_nll = float(-np.mean(val_set.labels * np.log(p) + (1 - val_set.labels) * np.log(1 - p)))
        record = {
            "epoch": epoch,
            "train_loss": totals["loss"] / totals["n"],
            "train_cls_loss": totals["cls"] / totals["n"],
            "train_sim_loss": totals["sim"] / totals["n"],
            "train_acc": totals["correct"] / totals["n"],
            "val_eer": val_eer,
            "val_acer_at_0.5": at_half.acer,
            "val_nll": val_nll,
            "elapsed_s": round(time.time() - started, 1),
        }
        history.append(record)
        print(json.dumps(record))
        torch.save({"state_dict": net.state_dict(), "epoch": epoch, "variant": variant}, run_dir / "last.pt")
        key = (round(val_eer, 4), round(at_half.acer, 4), val_nll)
        if best is None or key < best[0]:
            best = (key, epoch)
            torch.save({"state_dict": net.state_dict(), "epoch": epoch, "variant": variant}, run_dir / "best.pt")
        (run_dir / "history.json").write_text(json.dumps(history, indent=2))

    print(f"best epoch {best[1]} (val EER, ACER@0.5, NLL) = {best[0]}; training took {time.time() - started:.0f} s")
    which = config.get("export_checkpoint", "last")
    export_checkpoint(config, variant, run_dir, cache_dir, which=which, train_seconds=time.time() - started)
    return run_dir


def export_checkpoint(config: dict, variant: str, run_dir: Path, cache_dir: Path, *, which: str = "last", train_seconds: float | None = None) -> Path:
    """Export `last.pt` or `best.pt` of a run to ONNX with calibrated thresholds.

    The last epoch is the default: the validation subjects come from the same
    capture sessions as training and separate perfectly after one epoch, so
    "best on validation" would only pick an under-trained early epoch.
    """
    import torch

    from .nets import build_antispoof_net

    v = config["variants"][variant]
    net_kwargs = {k: v[k] for k in ("am_scale", "am_margin", "invariant_stem", "grey") if k in v}
    net = build_antispoof_net(v["arch"], head=v["head"], **net_kwargs)
    state = torch.load(run_dir / f"{which}.pt", map_location="cpu")
    net.load_state_dict(state["state_dict"])
    net.eval()
    history = json.loads((run_dir / "history.json").read_text())
    if train_seconds is None:
        train_seconds = history[-1]["elapsed_s"]
    scale = float(v.get("context_scale", get_settings().context_scale))
    _, val_set = train_val_split(load_split(cache_dir_for(cache_dir, scale), "train"), tuple(config["val_subjects"]))
    n_params = sum(p.numel() for p in net.parameters())
    return export(net, config, variant, run_dir, val_set, n_params, best_epoch=int(state["epoch"]), history=history, train_seconds=train_seconds)


# ---------------------------------------------------------------------------
# Export + calibration
# ---------------------------------------------------------------------------


def score_temperature(v: dict) -> float:
    """Softmax temperature of the exported score: a quarter of the AM-Softmax scale, 1 for a linear head."""
    if "score_temperature" in v:
        return float(v["score_temperature"])
    return float(v.get("am_scale", 30.0)) / 4.0 if v["head"] == "amsoftmax" else 1.0


def export_onnx(net, spec: InputSpec, path: Path, temperature: float = 1.0) -> None:
    import torch

    from .nets import WithSoftmax

    wrapped = WithSoftmax(net, temperature).eval()
    dummy = torch.zeros(1, spec.channels, spec.height, spec.width)
    torch.onnx.export(
        wrapped,
        (dummy,),
        str(path),
        input_names=[spec.name],
        output_names=["probs"],
        dynamic_axes={spec.name: {0: "batch"}, "probs": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def provisional_model(run_dir: Path, base: dict) -> OnnxModel:
    """The exported run, loadable by the serving code before its thresholds are known (a placeholder manifest)."""
    write_manifest(run_dir, ModelManifest(**base, thresholds={"live": 0.5, "spoof": 0.5}, extra={"live_class_index": 1}))
    return OnnxModel(run_dir)


def calibrate_on_validation(run_dir: Path, base: dict, val_set, *, target_rate: float, score: str) -> dict:
    """Thresholds, calibration and validation metrics of a manifest, from the validation subjects scored by the serving path.

    `base` holds the manifest's identity fields (name, version, file, sha256,
    input, outputs).
    """
    from functions.steps.antispoof import live_scores

    model = provisional_model(run_dir, base)
    val_scores = np.concatenate([live_scores(list(val_set.crops[i : i + 64]), model) for i in range(0, len(val_set), 64)])
    data = f"NUAA train, subjects {', '.join(sorted(set(val_set.subjects)))} held out by subject ({len(val_set)} crops)"
    return calibration_from_scores(run_dir, val_scores, val_set.labels, target_rate=target_rate, score=score, data=data)


def calibration_from_scores(run_dir: Path, scores: np.ndarray, labels: np.ndarray, *, target_rate: float, score: str, data: str) -> dict:
    """The manifest's thresholds, calibration and validation metrics from held-out live scores; the scores are kept beside the run."""
    cal = calibrate_thresholds(scores, labels, target_rate=target_rate)
    np.save(run_dir / "val_scores.npy", np.stack([scores, labels]))
    point = error_rates(scores, labels, cal["operating"])
    return {
        "thresholds": {"live": cal["live"], "spoof": cal["spoof"], "operating": cal["operating"]},
        "calibration": {
            "method": "operating = validation EER threshold; uncertain band between the 1st percentile of live scores "
            "and the 99th percentile of attack scores (whichever order they fall in)",
            "data": data,
            "score": score,
            **cal,
        },
        "metrics": {
            "validation": {"eer": cal["val_eer"], **point.to_dict(), "n_live": int((labels == 1).sum()), "n_attack": int((labels == 0).sum())}
        },
    }


def export(net, config: dict, variant: str, run_dir: Path, val_set, n_params: int, *, best_epoch: int, history: list, train_seconds: float) -> Path:
    """ONNX file + manifest with thresholds calibrated on the validation subjects (scored by onnxruntime)."""
    from datetime import datetime, timezone

    v = config["variants"][variant]
    spec = input_spec(config, v)
    onnx_path = run_dir / "model.onnx"
    temperature = score_temperature(v)
    export_onnx(net, spec, onnx_path, temperature)
    version = f"{datetime.now(timezone.utc):%Y.%m.%d}-{variant}"
    base = dict(name=MODEL_NAME, version=version, file="model.onnx", sha256=sha256_file(onnx_path), input=spec, outputs=("probs",))
    # Validation scores through the serving path (onnxruntime), so thresholds match what serving computes.
    fitted = calibrate_on_validation(
        run_dir, base, val_set, target_rate=float(config["target_rate"]),
        score=f"probability of live (output probs[:, 1]): softmax of the logits divided by {temperature:g}; "
        "monotone in the network's live-vs-spoof margin, not a calibrated probability",
    )
    manifest = ModelManifest(
        **base,
        **fitted,
        extra={
            "live_class_index": 1,
            "classes": ["spoof", "live"],
            "score_temperature": temperature,
            "context_scale": float(v.get("context_scale", get_settings().context_scale)),
            "preprocessing": f"256x256 RGB context crop (face box x{float(v.get('context_scale', get_settings().context_scale)):g}, "
            "functions.imaging.face_detection.context_crop) resized to the input size with INTER_AREA",
            "training": {
                "variant": variant,
                "arch": v["arch"],
                "head": v["head"],
                "similarity_weight": v.get("similarity_weight", 0.0),
                "parameters": n_params,
                "exported_epoch": best_epoch,
                "epochs": len(history),
                "train_seconds": round(train_seconds),
                "seed": config["seed"],
                "data": "NUAA Photograph Imposter Database, train split (sessions 1-2, subjects 0001-0009) minus validation subjects",
            },
            "license": "Model weights: same licence as the project code. Trained on NUAA, academic research data without a redistribution licence; see MODEL_CARD.md.",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    write_manifest(run_dir, manifest)
    print(json.dumps(manifest.thresholds), json.dumps(manifest.metrics))
    return run_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_export train-antispoof", description=__doc__)
    parser.add_argument("--variant", default="compact_am")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="NUAA root (only read when the crop cache is missing)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--epochs", type=int, default=None, help="override the config's epoch count")
    parser.add_argument("--export-only", choices=["last", "best"], default=None, help="skip training; export this checkpoint of the run")
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    if args.variant not in config["variants"]:
        parser.error(f"unknown variant {args.variant!r}; known: {sorted(config['variants'])}")
    get_settings()
    if args.export_only:
        import torch

        torch.set_num_threads(args.threads)
        export_checkpoint(config, args.variant, args.runs / args.variant, args.cache, which=args.export_only)
        return 0
    train(config, args.variant, args.runs / args.variant, args.cache, args.data, args.device, args.threads, args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
