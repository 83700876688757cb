"""`ship`: the one step that writes into models/. Every model's pipeline ends here.

A run folder (model_export/runs/<model>/ by default) holds what the earlier
steps made: the network (`model.onnx` and any file beside it), the candidate
`manifest.json` (thresholds from `calibrate`; a network fused into another
model's score, manifest `fused_into`, has none of its own), and the evaluation's report
(`REPORT.md`, `report/` with `metrics.json`, plots and results). `ship` copies
those into models/<name>/, puts the evaluation's metrics and the `build` block
(seeds, data hashes, code commit) into the manifest, and checks the sha256 of
every file it copied.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from functions.manifests import MANIFEST_FILE, sha256_file

from .paths import MODELS_DIR, RUNS_DIR
from .provenance import build_record

METRICS_FILE = "metrics.json"


def read_run(run: Path, manifest_file: str = MANIFEST_FILE) -> tuple[dict, dict]:
    """(candidate manifest, evaluation metrics) of a run; SystemExit when a step has not run yet."""
    manifest_path, metrics_path = run / manifest_file, run / "report" / METRICS_FILE
    if not manifest_path.is_file():
        raise SystemExit(f"{manifest_path} is missing: run the model's first steps (fetch, convert or export, and calibrate or choose)")
    if not metrics_path.is_file():
        raise SystemExit(f"{metrics_path} is missing: run `evaluate` on {run} first")
    manifest = json.loads(manifest_path.read_text())
    if not (manifest.get("thresholds") or manifest.get("limits") or manifest.get("fused_into")):
        raise SystemExit(f"{manifest_path} has no thresholds: run `calibrate` first")
    return manifest, json.loads(metrics_path.read_text())


def ship(run: Path, target: Path, manifest: dict, files: tuple[str, ...], manifest_file: str = MANIFEST_FILE) -> Path:
    """Copy `files`, the run's reports (*.md) and report/ from `run` into `target`, then write `manifest` there.

    A manifest naming a network file (`file`, `sha256`) is checked against the copy first.
    """
    target.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copyfile(run / name, target / name)
    for report in sorted(run.glob("*.md")):
        shutil.copyfile(report, target / report.name)
    for name in ("LICENSE", "NOTICE"):
        if (run / name).is_file():
            shutil.copyfile(run / name, target / name)
    if (run / "report").is_dir():
        shutil.copytree(run / "report", target / "report", dirs_exist_ok=True)
    if "file" in manifest and sha256_file(target / manifest["file"]) != manifest["sha256"]:
        raise SystemExit(f"{target / manifest['file']} does not have the manifest's sha256")
    path = target / manifest_file
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def with_build(manifest: dict) -> dict:
    """`manifest` with the build block its run recorded (seeds, data) completed by the code commit, placed last."""
    build = manifest.pop("build", {})
    manifest["build"] = build_record(build.get("data", {}), build.get("seeds", {}), randomness=build.get("randomness"))
    return manifest


def write_calibration_llr(models_dir: Path, model_name: str, llr: dict) -> Path:
    """Put `llr` under calibration.llr of a shipped model's manifest, everything else unchanged (`system ship`)."""
    from dataclasses import replace

    from functions.manifests import read_manifest, write_manifest

    folder = Path(models_dir) / model_name
    manifest = read_manifest(folder)
    others = {k: v for k, v in manifest.calibration.items() if k != "llr"}  # llr last, wherever the model's own ship put it
    return write_manifest(folder, replace(manifest, calibration={**others, "llr": llr}))


def shipping_parser(prog: str, model: str, doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("--run", type=Path, default=RUNS_DIR / model, help="run folder whose steps have all run")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    return parser


def main(argv: list[str] | None, *, model: str, files: tuple[str, ...]) -> int:
    """`python -m model_export <model> ship [--run DIR]`: the run's model, metrics and build record into models/<name>/."""
    args = shipping_parser(f"python -m model_export {model} ship", model, main.__doc__).parse_args(argv)
    manifest, metrics = read_run(args.run)
    manifest["metrics"] = metrics
    manifest = with_build(manifest)
    path = ship(args.run, args.models_dir / manifest["name"], manifest, files)
    print(f"shipped {manifest['name']} {manifest['version']} ({manifest['sha256'][:12]}) from {manifest['build']['code_commit']} into {path.parent}")
    return 0
