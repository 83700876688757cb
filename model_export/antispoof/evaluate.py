"""`python -m model_export antispoof evaluate`: the ensemble the ISO/IEC 30107-3 way, into a report; read-only.

`python -m model_export antispoof evaluate [--data ../shared/data/nuaa] [--model RUN] [--out DIR] [--against models/antispoof]`

Each member alone and the ensemble, on NUAA dev (never used to choose
anything): APCER per attack variant, BPCER, ACER at the operating threshold,
EER, the three zones, DET curves, per subject; with the service detector's
box as it comes and mapped onto the reference detector's box. Probes reported
apart: the upstream sample photos, the screen-replay sample, and simulated
prints and screen replays of NUAA dev live frames and of the project's sample
photos. Each member alone gets its own edges, chosen on NUAA train the same
way as the ensemble's. Writes report/ (REPORT.md, plots, results.json and
metrics.json, the dev figures `antispoof ship` puts into the manifest) into
--out; never a manifest.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from functions.biometrics.liveness import BoxMapping, Member, fuse, members_of
from functions.onnx_models import OnnxModel
from model_export.common.metrics import det_curve, equal_error_rate, error_rates, three_zone_rates

from ..common.paths import SHARED_DATA
from ..common.plots import probit_axes, pyplot, save
from ..common.provenance import not_shipped
from ..common.shipping import METRICS_FILE
from . import calibrate, scoring
from .convert import DEFAULT_RUN

DEFAULT_SHARED = SHARED_DATA
PROBE_STEP = 4  # every 4th NUAA dev live frame becomes a simulated print and a simulated screen replay


def split_scores(data_root: Path, split: str, cache: Path, session: scoring.PairSession, mappings, sha: str):
    """(detections, {mapping: (N, members) scores}) for a NUAA split, cached by model checksum."""
    det = scoring.detect_split(data_root, split, cache)
    path = cache / f"{split}_scores_{sha[:12]}.npz"
    if path.is_file():
        z = np.load(path)
        return det, {k: z[k] for k in mappings}
    images = (scoring.read_rgb(data_root / rel) for rel in det.files)
    scores = scoring.score_images(images, det.boxes, session, mappings)
    np.savez(path, **scores)
    return det, scores


def systems(members: list[Member], weights: list[float]) -> dict[str, callable]:
    """Name -> function from (N, members) scores to one score per face."""
    out = {m.name: (lambda s, i=i: s[:, i]) for i, m in enumerate(members)}
    out["ensemble"] = lambda s: fuse(s, weights)
    return out


def variant_of(rel: str) -> str:
    """NUAA attack variant: the glasses and position codes of the file name."""
    parts = Path(rel).name.split("_")
    return f"glasses {parts[1]}, position {parts[2]}"


def iso_figures(scores: np.ndarray, labels: np.ndarray, files: list[str], subjects: np.ndarray, edges: dict) -> dict:
    eer, eer_thr = equal_error_rate(scores, labels)
    point = error_rates(scores, labels, edges["operating"])
    attacks = labels == 0
    per_variant = {}
    for v in sorted({variant_of(f) for f, a in zip(files, attacks) if a}):
        sel = np.array([variant_of(f) == v for f in files]) & attacks
        per_variant[v] = {"n": int(sel.sum()), "apcer": float(np.mean(scores[sel] >= edges["operating"])),
                          "accepted_as_live_3zone": float(np.mean(scores[sel] >= edges["live"]))}
    per_subject = {}
    for s in sorted(set(subjects.tolist())):
        sel = subjects == s
        live, atk = sel & (labels == 1), sel & attacks
        per_subject[s] = {
            "n_live": int(live.sum()), "n_attack": int(atk.sum()),
            "bpcer": float(np.mean(scores[live] < edges["operating"])) if live.any() else None,
            "apcer": float(np.mean(scores[atk] >= edges["operating"])) if atk.any() else None,
        }
    return {
        "n_live": int((labels == 1).sum()), "n_attack": int(attacks.sum()),
        "eer": eer, "eer_threshold": eer_thr,
        "at_operating": point.to_dict(),
        "three_zone": three_zone_rates(scores, labels, edges["live"], edges["spoof"]),
        "edges": {k: edges[k] for k in ("live", "spoof", "operating")},
        "apcer_per_attack_variant": per_variant,
        "per_subject": per_subject,
    }


def probe_images(shared: Path) -> list[tuple[str, str, int, np.ndarray]]:
    """(group, name, label, RGB) of every probe photo available here; label 1 = bona fide."""
    from tests.fixtures.photos import astronaut, capture, grace_hopper
    from tests.fixtures.spoof import make_print_attack, make_screen_replay

    probes = []
    for name, photo in (("astronaut", astronaut()), ("grace_hopper", grace_hopper())):
        probes.append(("sample photos, bona fide", name, 1, photo))
        for seed in range(1, 16):
            probes.append(("sample photos, bona fide", f"{name} capture {seed}", 1, capture(photo, seed)))
        for seed in range(5):
            probes.append(("sample photos, simulated print", f"{name} seed {seed}", 0, make_print_attack(photo, seed)))
            probes.append(("sample photos, simulated screen replay", f"{name} seed {seed}", 0, make_screen_replay(photo, seed)))
    upstream = shared / "minifasnet" / "samples"
    for path in sorted(upstream.glob("*.jpg")):
        label = 1 if "_T" in path.name else 0
        group = "upstream samples (Apache-2.0), " + ("bona fide" if label else "attack")
        probes.append((group, path.name, label, scoring.read_rgb(path)))
    screen = shared / "pad_samples" / "screen_replay_hyperfas.png"
    if screen.is_file():
        probes.append(("screen-replay sample (BSD-3-Clause)", screen.name, 0, scoring.read_rgb(screen)))
    live_dir = shared / "nuaa" / "dev" / "live"
    for k, path in enumerate(sorted(live_dir.glob("*/*.jpg"))[::PROBE_STEP]):
        rgb = scoring.read_rgb(path)
        probes.append(("NUAA dev live, simulated print", path.name, 0, make_print_attack(rgb, k)))
        probes.append(("NUAA dev live, simulated screen replay", path.name, 0, make_screen_replay(rgb, k)))
    return probes


def score_probes(probes, session: scoring.PairSession, mapping: BoxMapping) -> list[dict]:
    rows = []
    for group, name, label, rgb in probes:
        box = scoring.first_face_box(rgb)
        s = None if box is None else session.live([scoring.crops_for(rgb, box, session.members, mapping)])[0]
        rows.append({"group": group, "name": name, "label": label, "member_scores": None if s is None else s.tolist()})
    return rows


def probe_summary(rows: list[dict], weights: list[float], edges: dict) -> dict:
    out = {}
    for group in dict.fromkeys(r["group"] for r in rows):
        g = [r for r in rows if r["group"] == group]
        found = [r for r in g if r["member_scores"] is not None]
        s = fuse(np.array([r["member_scores"] for r in found]), weights) if found else np.array([])
        zones = ["live" if v >= edges["live"] else "spoof" if v <= edges["spoof"] else "uncertain" for v in s]
        out[group] = {
            "label": "bona fide" if g[0]["label"] == 1 else "attack",
            "n": len(g), "no_face": len(g) - len(found),
            "live": zones.count("live"), "uncertain": zones.count("uncertain"), "spoof": zones.count("spoof"),
            "median_score": float(np.median(s)) if len(s) else None,
            "scores": {r["name"]: round(float(v), 4) for r, v in zip(found, s)} if len(found) <= 12 else None,
        }
    return out


def step_latency(model_dir: Path, n: int = 200) -> dict:
    """Median ms of the step's work per face (member crops from the photo, ONNX, fusion, zones) on sample photos."""
    from functions.biometrics.liveness import check_photo
    from functions.biometrics.face_detection import detect_faces
    from tests.fixtures.photos import astronaut, grace_hopper

    model = OnnxModel(model_dir, intra_op_threads=2)
    photos = [astronaut(), grace_hopper()]
    boxes = [detect_faces(p)[0].box for p in photos]
    for i in range(5):
        check_photo(photos[i % 2], boxes[i % 2], model)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        check_photo(photos[i % 2], boxes[i % 2], model)
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95)), "n": n,
            "what": "member crops + onnxruntime (2 threads) + fusion + zones, one face; detection excluded (face-crop step)"}


def plot_det(curves: dict, path: Path, title: str = "DET on NUAA dev") -> None:
    from scipy.stats import norm

    fig, ax = pyplot().subplots(figsize=(5.5, 5))
    for name, (apcer, bpcer) in curves.items():
        a, b = np.clip(apcer, 5e-4, 0.5), np.clip(bpcer, 5e-4, 0.5)
        ax.plot(norm.ppf(a), norm.ppf(b), label=name)
    probit_axes(ax, [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4], label="{:.1%}", rotation=45)
    ax.set_xlabel("APCER")
    ax.set_ylabel("BPCER")
    ax.set_title(f"{title}\n(rates below 0.05% drawn at 0.05%)", fontsize=9)
    ax.legend(fontsize=8)
    save(fig, path, dpi=110)


def plot_scores(scores: dict[str, np.ndarray], labels: np.ndarray, edges: dict, path: Path) -> None:
    fig, axes = pyplot().subplots(1, len(scores), figsize=(4.2 * len(scores), 3.4), sharey=True)
    bins = np.linspace(0, 1, 41)
    for ax, (name, s) in zip(np.atleast_1d(axes), scores.items()):
        ax.hist(s[labels == 1], bins=bins, alpha=0.6, label="live", color="tab:green")
        ax.hist(s[labels == 0], bins=bins, alpha=0.6, label="print attack", color="tab:red")
        if name == "ensemble":
            for k, c in (("spoof", "k"), ("live", "k")):
                ax.axvline(edges[k], color=c, ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("probability of live")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    save(fig, path, dpi=110)


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def write_report(path: Path, manifest: dict, results: dict) -> None:
    dev = results["dev"]
    lines = [
        "# Anti-spoofing report: the MiniFASNet pair",
        "",
        f"Model `{manifest['version']}` (`model.onnx`, sha256 `{manifest['sha256'][:16]}...`). Regenerate with "
        "`python -m model_export antispoof evaluate` (NUAA under `../shared/data/nuaa`); the model itself with "
        "`python -m model_export antispoof convert --reference <upstream checkout>` and `antispoof calibrate --reference <upstream checkout>`.",
        "",
        "Box mapping, fusion weights and zone edges were chosen on NUAA train only (see the manifest's "
        "`calibration`); NUAA dev (session 3, a new capture session) was never used to choose anything. "
        "Scores are the probability of live; a face is live at or above the operating threshold for APCER/BPCER/ACER, "
        "and the service uses three zones: live at or above `live`, spoof at or below `spoof`, human review between.",
        "",
        f"Operating threshold {manifest['thresholds']['operating']:.4f}; zones: live >= {manifest['thresholds']['live']:.4f}, "
        f"spoof <= {manifest['thresholds']['spoof']:.4f}. Fusion weights: "
        + ", ".join(f"{k} {v}" for k, v in manifest["fusion"]["weights"].items()) + ".",
        "",
        "## NUAA dev (printed-photo attacks only)",
        "",
        f"{dev['ensemble']['mapped']['n_live']} live, {dev['ensemble']['mapped']['n_attack']} attacks with a face found "
        f"({results['dev_no_face']} photos without one are left out).",
        "",
        "| system | box | EER | APCER | BPCER | ACER | attacks accepted (3 zones) | live rejected (3 zones) | live to review | attacks to review |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, by_box in dev.items():
        for box, f in by_box.items():
            p, z = f["at_operating"], f["three_zone"]
            lines.append(
                f"| {name} | {box} | {pct(f['eer'])} | {pct(p['apcer'])} | {pct(p['bpcer'])} | {pct(p['acer'])} | "
                f"{pct(z['apcer_accepted_as_live'])} | {pct(z['bpcer_rejected_as_spoof'])} | {pct(z['live_to_review'])} | "
                f"{pct(z['attacks_to_review'])} |"
            )
    lines += [
        "",
        "`service box`: MediaPipe's box used as it comes; `mapped`: MediaPipe's box mapped onto the box of the "
        "detector the networks were trained with (what the service does). Each member alone is judged with its own "
        "operating threshold and zones, chosen on NUAA train by the same rules as the ensemble's.",
        "",
        "![DET](det.png)",
        "",
        "![scores](scores.png)",
        "",
        "### Box mapping",
        "",
    ]
    bm = manifest["box_mapping"]
    lines += [
        f"MediaPipe's box is smaller and sits lower than the reference detector's: fitted on NUAA train "
        f"({bm.get('pairs', 'n/a')} photos), the reference box's centre is {bm['dx']:+.3f} w, {bm['dy']:+.3f} h from MediaPipe's "
        f"and its size {bm['sw']:.3f} w x {bm['sh']:.3f} h; median IoU {bm.get('median_iou_before', float('nan')):.3f} before "
        f"the mapping, {bm.get('median_iou_after', float('nan')):.3f} after. Effect on training scores (EER of each member and of "
        "the fused score):",
        "",
        "| box | " + " | ".join(f"{m['name']} EER" for m in manifest["members"]) + " | fused EER | highest attack | 0.5% live quantile |",
        "| --- | " + " | ".join("---" for _ in manifest["members"]) + " | --- | --- | --- |",
    ]
    for box, f in manifest["calibration"]["box_mapping_effect_on_train"].items():
        lines.append(
            f"| {box} | " + " | ".join(pct(f[m["name"] + "_eer"]) for m in manifest["members"])
            + f" | {pct(f['eer'])} | {f['attack_high']:.3f} | {f['live_low']:.3f} |"
        )
    lines += ["", "### APCER per attack variant (ensemble, mapped box)", "", "| variant | attacks | APCER | accepted as live (3 zones) |", "| --- | --- | --- | --- |"]
    for v, f in dev["ensemble"]["mapped"]["apcer_per_attack_variant"].items():
        lines.append(f"| {v} | {f['n']} | {pct(f['apcer'])} | {pct(f['accepted_as_live_3zone'])} |")
    lines += ["", "### Per subject (ensemble, mapped box)", "", "| subject | live | BPCER | attacks | APCER |", "| --- | --- | --- | --- | --- |"]
    for s, f in dev["ensemble"]["mapped"]["per_subject"].items():
        lines.append(f"| {s} | {f['n_live']} | {pct(f['bpcer'])} | {f['n_attack']} | {pct(f['apcer'])} |")
    lines += [
        "",
        "## Probes beyond NUAA (reported apart)",
        "",
        "Simulated attacks come from `tests/fixtures/spoof.py` (prints: ink range, halftone, paper grain and margin, glare, "
        "tilt; screen replays: display gamut and black level, sub-pixel grid resampled into moire, bezel, glass glare, tilt), "
        f"applied to every {PROBE_STEP}th NUAA dev live frame and to the project's sample photos. They are probes of attack "
        "types NUAA lacks, not evidence about real screens; the real screen-replay evidence here is one photo.",
        "",
        "![DET on the simulated probes](det_probes.png)",
        "",
        "| probe | presentation | photos | no face | live | uncertain | spoof | median score |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for g, f in results["probes"].items():
        med = "n/a" if f["median_score"] is None else f"{f['median_score']:.4f}"
        lines.append(f"| {g} | {f['label']} | {f['n']} | {f['no_face']} | {f['live']} | {f['uncertain']} | {f['spoof']} | {med} |")
    lines += ["", "Single-photo scores:", ""]
    for g, f in results["probes"].items():
        if f["scores"] and not g.startswith(("sample photos", "NUAA")):
            lines.append(f"- {g}: " + ", ".join(f"`{k}` {v:.4f}" for k, v in f["scores"].items()))
    lat = results["latency"]
    lines += [
        "",
        "## Size and speed",
        "",
        f"- `model.onnx`: {results['size_mb']:.2f} MB (both members).",
        f"- Step latency on this machine: median {lat['median_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms per face "
        f"({lat['what']}; {lat['n']} calls; the machine was shared with other jobs, so these are upper bounds). "
        "`python benchmarks/antispoof.py` times it beside the reference implementation.",
        "",
        "## Limits",
        "",
        "- NUAA holds printed photos only, from one webcam, 15 people; the dev split is a third capture session of "
        "the same kind. Screen replays, masks, cut-out prints, deepfakes and injection attacks were never measured on "
        "real data beyond one screen-replay photo; the simulated probes are not a substitute.",
        "- The networks' own training data is not published; their behaviour on other cameras, skin tones and lighting "
        "is unknown beyond these probes.",
        "",
    ]
    path.write_text("\n".join(lines))


def promotion_verdict(candidate: dict, current: dict) -> list[str]:
    """Why a candidate's metrics are worse than the current model's on the same fixed sets (empty: it may replace it).

    Compared: NUAA dev ACER and EER, attacks accepted and live faces rejected
    or sent to review in three zones, and every probe's attacks accepted as
    live and bona fide photos rejected.
    """
    worse = []
    cd, od = candidate["dev"], current["dev"]
    for key in ("acer", "eer"):
        if cd[key] > od[key] + 1e-12:
            worse.append(f"dev {key} {cd[key]:.4f} > {od[key]:.4f}")
    for key in ("apcer_accepted_as_live", "bpcer_rejected_as_spoof", "live_to_review"):
        if cd["three_zone"][key] > od["three_zone"][key] + 1e-12:
            worse.append(f"dev {key} {cd['three_zone'][key]:.4f} > {od['three_zone'][key]:.4f}")
    for group, now in current.get("probes", {}).items():
        new = candidate.get("probes", {}).get(group)
        if new is None:
            worse.append(f"probe {group!r} not measured")
            continue
        bad = "live" if now["label"] == "attack" else "spoof"
        if new[bad] > now[bad]:
            worse.append(f"probe {group!r}: {new[bad]} {bad} (was {now[bad]})")
    return worse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_export antispoof evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=scoring.DEFAULT_NUAA, help="NUAA root")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="folder with minifasnet/samples and pad_samples")
    parser.add_argument("--model", type=Path, default=DEFAULT_RUN, help="model folder to evaluate (a run, or models/antispoof)")
    parser.add_argument("--out", type=Path, help="where report/ goes (default: --model, which must then be a run)")
    parser.add_argument("--cache", type=Path, default=scoring.DEFAULT_CACHE)
    parser.add_argument("--against", type=Path, help="the current model's folder: exit 1 when the evaluated candidate is worse than it")
    args = parser.parse_args(argv)

    manifest_path = args.model / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    model = OnnxModel(args.model)
    members = members_of(model.manifest)
    weights = [m.weight for m in members]
    mapping = BoxMapping.from_dict(manifest["box_mapping"])
    mappings = {"service box": BoxMapping(), "mapped": mapping}
    session = scoring.PairSession(args.model / manifest["file"], members)

    train_det, train = split_scores(args.data, "train", args.cache, session, mappings, manifest["sha256"])
    dev_det, dev = split_scores(args.data, "dev", args.cache, session, mappings, manifest["sha256"])
    ok_t, ok_d = train_det.found, dev_det.found
    files_d = [f for f, k in zip(dev_det.files, ok_d) if k]
    results = {"dev": {}, "dev_no_face": int((~ok_d).sum()), "train_no_face": int((~ok_t).sum())}
    curves, hist = {}, {}
    for name, fn in systems(members, weights).items():
        results["dev"][name] = {}
        for box in mappings:
            # Each system's edges from its own training scores (the ensemble's equal the manifest's on the mapped box).
            edges = calibrate.zone_edges(fn(train[box][ok_t]), train_det.labels[ok_t])
            if name == "ensemble" and box == "mapped":
                edges = {**edges, **manifest["thresholds"]}
            s = fn(dev[box][ok_d])
            results["dev"][name][box] = iso_figures(s, dev_det.labels[ok_d], files_d, dev_det.subjects[ok_d], edges)
            if box == "mapped":
                _, apcer, bpcer = det_curve(s, dev_det.labels[ok_d])
                curves[name] = (apcer, bpcer)
                hist[name] = s
        curves[f"{name} (service box)"] = det_curve(fn(dev["service box"][ok_d]), dev_det.labels[ok_d])[1:]
    probes = score_probes(probe_images(args.shared), session, mapping)
    results["probes"] = probe_summary(probes, weights, manifest["thresholds"])
    # NUAA dev live faces against the simulated attacks made from them: the one DET here with errors to show.
    dev_live = dev["mapped"][ok_d][dev_det.labels[ok_d] == 1]
    probe_curves = {}
    for kind in ("print", "screen replay"):
        attacks = np.array([r["member_scores"] for r in probes
                            if r["group"] == f"NUAA dev live, simulated {kind}" and r["member_scores"] is not None])
        both = np.concatenate([dev_live, attacks])
        labels = np.concatenate([np.ones(len(dev_live)), np.zeros(len(attacks))])
        for name, fn in systems(members, weights).items():
            probe_curves[f"{name}, simulated {kind}"] = det_curve(fn(both), labels)[1:]
    results["latency"] = step_latency(args.model)
    results["size_mb"] = (args.model / manifest["file"]).stat().st_size / 1e6

    report = not_shipped(args.out or args.model) / "report"
    report.mkdir(parents=True, exist_ok=True)
    plot_det(curves, report / "det.png")
    plot_det(probe_curves, report / "det_probes.png", "DET: NUAA dev live vs simulated attacks of its frames")
    plot_scores(hist, dev_det.labels[ok_d], manifest["thresholds"], report / "scores.png")
    (report / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    e = results["dev"]["ensemble"]["mapped"]
    metrics = {
        "dev": {
            "data": f"NUAA dev (session 3): {e['n_live']} live, {e['n_attack']} printed-photo attacks",
            **{k: e["at_operating"][k] for k in ("apcer", "bpcer", "acer")},
            "eer": e["eer"],
            "at_threshold": manifest["thresholds"]["operating"],
            "three_zone": e["three_zone"],
            "members_alone": {m.name: {"eer": results["dev"][m.name]["mapped"]["eer"],
                                       "acer": results["dev"][m.name]["mapped"]["at_operating"]["acer"]} for m in members},
            "service_box_unmapped": {"eer": results["dev"]["ensemble"]["service box"]["eer"],
                                     "acer": results["dev"]["ensemble"]["service box"]["at_operating"]["acer"]},
        },
        "probes": {g: {k: f[k] for k in ("label", "n", "no_face", "live", "uncertain", "spoof")} for g, f in results["probes"].items()},
        "latency_ms": {k: results["latency"][k] for k in ("median_ms", "p95_ms")},
        "size_mb": results["size_mb"],
    }
    calibrate.write_json(report / METRICS_FILE, metrics)
    write_report(report / "REPORT.md", manifest, results)
    print(json.dumps(metrics, indent=1))
    if args.against is not None:
        current = json.loads((args.against / "manifest.json").read_text())["metrics"]
        worse = promotion_verdict(metrics, current)
        print("candidate is worse than the current model:\n  " + "\n  ".join(worse) if worse else "candidate is no worse on any fixed set: it may replace the current model")
        return 1 if worse else 0
    return 0
