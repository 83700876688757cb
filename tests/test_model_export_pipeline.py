"""model_export's pipelines: verbs per model, the data content hash, the build record, and `ship` as the only writer of models/."""

from __future__ import annotations

import json
import subprocess

import pytest

from functions.manifests import read_manifest, sha256_file
from model_export.__main__ import PIPELINES, main
from model_export.common import provenance, shipping
from model_export.common.paths import MODELS_DIR
from model_export.quality import choose as quality
from model_export.system import evaluate as system
from functions.settings import REPO_ROOT

SHIPPED = ("face_sface", "antispoof", "signature")


def test_each_pipeline_ends_in_ship_after_a_read_only_evaluate():
    for model in ("face", "antispoof", "signature", "quality", "system"):
        steps = list(PIPELINES[model])
        assert steps[-2:] == ["evaluate", "ship"] and ("calibrate" in steps or "choose" in steps), model
    assert main(["face", "train"]) == 2 and main([]) == 2


def test_content_hash_covers_names_and_bytes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.png").write_bytes(b"one")
    (tmp_path / "2.png").write_bytes(b"two")
    files = [tmp_path / "2.png", tmp_path / "a" / "1.png"]
    first = provenance.content_sha256(tmp_path, files)
    assert first["files"] == 2 and first == provenance.content_sha256(tmp_path, list(reversed(files)))
    (tmp_path / "2.png").write_bytes(b"tw0")
    assert provenance.content_sha256(tmp_path, files)["sha256"] != first["sha256"]
    (tmp_path / "2.png").write_bytes(b"two")
    (tmp_path / "2.png").rename(tmp_path / "3.png")
    assert provenance.content_sha256(tmp_path, [tmp_path / "3.png", tmp_path / "a" / "1.png"])["sha256"] != first["sha256"]


def test_code_commit_is_head_with_dirty_marked():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert provenance.code_commit().removesuffix("-dirty") == head


def test_only_ship_writes_into_models(tmp_path):
    with pytest.raises(SystemExit):
        provenance.not_shipped(MODELS_DIR / "face_sface")
    assert provenance.not_shipped(tmp_path) == tmp_path


def test_ship_copies_the_run_and_writes_metrics_and_build(tmp_path):
    run, models = tmp_path / "run", tmp_path / "models"
    (run / "report").mkdir(parents=True)
    (run / "model.onnx").write_bytes(b"network")
    manifest = {"name": "toy", "version": "1", "file": "model.onnx", "sha256": sha256_file(run / "model.onnx"),
                "input": {"name": "x", "height": 1, "width": 1}, "thresholds": {}, "build": {"seeds": {"draws": 3}, "data": {}}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run / "report" / shipping.METRICS_FILE).write_text(json.dumps({"eer": 0.1}))
    with pytest.raises(SystemExit):  # not calibrated
        shipping.main(["--run", str(run), "--models-dir", str(models)], model="toy", files=("model.onnx",))
    manifest["thresholds"] = {"accept": 0.5}
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run / "REPORT.md").write_text("# report\n")
    assert shipping.main(["--run", str(run), "--models-dir", str(models)], model="toy", files=("model.onnx",)) == 0
    shipped = read_manifest(models / "toy")
    assert shipped.metrics == {"eer": 0.1} and shipped.thresholds == {"accept": 0.5}
    assert shipped.extra["build"]["seeds"] == {"draws": 3} and shipped.extra["build"]["code_commit"] == provenance.code_commit()
    assert (models / "toy" / "REPORT.md").is_file() and (models / "toy" / "model.onnx").read_bytes() == b"network"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_manifests_record_seeds_data_hash_and_commit(name):
    manifest = read_manifest(MODELS_DIR / name)  # the service's reader takes the new fields
    build = manifest.extra["build"]
    assert len(build["code_commit"]) == 40 and not build["code_commit"].endswith("-dirty")
    assert isinstance(build["seeds"], dict) and (build["seeds"] or build["randomness"])
    assert build["data"] and all(len(d["sha256"]) == 64 and d["files"] > 0 for d in build["data"].values())
    assert manifest.sha256 == sha256_file(MODELS_DIR / name / manifest.file)


def test_signature_export_writes_the_run_graph_and_its_parity(tmp_path):
    torch = pytest.importorskip("torch", reason="the training stack is not installed (pip install -r model_export/requirements.txt)")
    from model_export.signature.evaluate import export_main
    from model_export.signature.nets import SignatureFeatureNet

    torch.manual_seed(0)
    torch.save({"net": SignatureFeatureNet().state_dict(), "epoch": 1, "input": [64, 128]}, tmp_path / "best.pt")
    assert export_main(["--run", str(tmp_path)]) == 0
    assert (tmp_path / "model.onnx").stat().st_size > 1e6
    assert json.loads((tmp_path / "parity.json").read_text())["max_abs_diff"] < 1e-4
    with pytest.raises(SystemExit):
        export_main(["--run", str(MODELS_DIR / "signature")])


# --- the decision (system) and the capture-quality limits (quality) ----------------------------------


@pytest.mark.parametrize("step", [system.calibrate_main, system.evaluate_main, quality.choose_main, quality.evaluate_main])
def test_steps_before_ship_refuse_a_folder_inside_models(step):
    with pytest.raises(SystemExit, match="only `ship` writes there"):
        step(["--run", str(MODELS_DIR / "decision")])


def shipped_decision_as_a_run(run, models):
    """models/decision and the three manifests as `system calibrate` and `evaluate` would have left them in a run."""
    (run / "report").mkdir(parents=True)
    policy = json.loads((MODELS_DIR / "decision" / "policy.json").read_text())
    figures, policy["figures"] = policy["figures"], None
    (run / "policy.json").write_text(json.dumps(policy, indent=2) + "\n")
    (run / "report" / shipping.METRICS_FILE).write_text(json.dumps(figures))
    (run / "REPORT.md").write_bytes((MODELS_DIR / "decision" / "REPORT.md").read_bytes())
    fitted = {}
    for check, name in system.MODELS.items():
        (models / name).mkdir(parents=True)
        manifest = json.loads((MODELS_DIR / name / "manifest.json").read_text())
        fitted[check] = {"model": manifest["name"], "version": manifest["version"], "llr": manifest["calibration"]["llr"]}
        manifest["calibration"].pop("llr")  # as a model's own `ship` leaves it
        (models / name / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (run / system.LLR_FILE).write_text(json.dumps(fitted))


def test_system_ship_writes_the_llrs_and_the_policy_as_shipped_plus_its_build(tmp_path):
    run, models = tmp_path / "run", tmp_path / "models"
    shipped_decision_as_a_run(run, models)
    assert system.ship_main(["--run", str(run), "--models-dir", str(models)]) == 0
    for name in system.MODELS.values():  # each manifest gets its calibration.llr back, byte for byte
        assert (models / name / "manifest.json").read_bytes() == (MODELS_DIR / name / "manifest.json").read_bytes(), name
    policy = json.loads((models / "decision" / "policy.json").read_text())
    build = policy.pop("build")
    shipped = json.loads((MODELS_DIR / "decision" / "policy.json").read_text())
    shipped.pop("build", None)  # the shipped policy's own build names the commit it was shipped from
    assert policy == shipped
    assert build["code_commit"] == provenance.code_commit()
    assert (models / "decision" / "REPORT.md").read_bytes() == (MODELS_DIR / "decision" / "REPORT.md").read_bytes()


def test_system_ship_refuses_llrs_fitted_for_another_model_version(tmp_path):
    run, models = tmp_path / "run", tmp_path / "models"
    shipped_decision_as_a_run(run, models)
    manifest = json.loads((models / "signature" / "manifest.json").read_text())
    (models / "signature" / "manifest.json").write_text(json.dumps({**manifest, "version": "newer"}))
    with pytest.raises(SystemExit, match="run `system calibrate` again"):
        system.ship_main(["--run", str(run), "--models-dir", str(models)])
    assert not (models / "decision").exists() and "llr" not in json.loads((models / "face_sface" / "manifest.json").read_text())["calibration"]


def sweep_rows(nuaa, split: str) -> list[dict]:
    """A tiny sweep: two live frames and one print through every degradation; blur from sigma 3 is called a spoof."""
    from model_export.quality.sweep import degradations

    rows = []
    for n, label in enumerate(("live", "live", "spoof")):
        name = f"0001_00_00_01_{n}.jpg"
        (nuaa / split / label / "0001").mkdir(parents=True, exist_ok=True)
        (nuaa / split / label / "0001" / name).write_bytes(bytes([n]) * 10)
        for d in degradations():
            sigma = d.value if d.kind in ("blur", "blur_gain") else 0.0
            gain = d.value if d.kind == "gain" else 1.0
            q = {"sharpness": 80 / (1 + sigma), "brightness": 110 * gain, "contrast": 40.0, "dark_fraction": 0.0,
                 "bright_fraction": max(0.0, gain - 1.5) / 2, "eye_distance_px": 60 * (d.value if d.kind == "scale" else 1.0),
                 "yaw_deg": 3.0 + n, "pitch_deg": 0.0, "roll_deg": d.value if d.kind == "roll" else 1.0}
            spoof = label == "spoof" or sigma >= 3
            rows.append({"file": name, "person": "0001", "label": label, "degradation": d.name, "kind": d.kind, "value": d.value,
                         "crop_reason": None, "quality": q, "nose_position_raw": 0.45, "live_label": "spoof" if spoof else "live",
                         "face_accept": label == "live"})
    return rows


def test_quality_choose_evaluate_ship_on_a_tiny_sweep(tmp_path):
    run, nuaa, models = tmp_path / "run", tmp_path / "nuaa", tmp_path / "models"
    run.mkdir()
    for split in ("train", "dev"):
        (run / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sweep_rows(nuaa, split)))
    with pytest.raises(SystemExit, match="run `quality choose` first|quality choose"):
        quality.evaluate_main(["--run", str(run)])
    assert quality.choose_main(["--run", str(run), "--nuaa", str(nuaa)]) == 0
    chosen = (run / "manifest.json").read_bytes()
    limits = json.loads(chosen)["limits"]
    assert 80 / 4 < limits["min_sharpness"] <= 80 / 3.5  # just above the sharpest capture called a spoof (sigma 3)
    with pytest.raises(SystemExit, match="run `evaluate`"):
        quality.ship_main(["--run", str(run), "--models-dir", str(models)])

    assert quality.evaluate_main(["--run", str(run), "--against", str(MODELS_DIR / "quality")]) == 0
    assert (run / "manifest.json").read_bytes() == chosen and not models.exists()  # evaluate writes no manifest
    report = (run / "REPORT.md").read_text()
    assert "## Cost on the request path" in report and "quality choose" in report  # the hand-written sections kept
    metrics = json.loads((run / "report" / shipping.METRICS_FILE).read_text())
    assert metrics["train"]["blur_3"]["captures"] == 3

    assert quality.ship_main(["--run", str(run), "--models-dir", str(models)]) == 0
    shipped = json.loads((models / "quality" / "manifest.json").read_text())
    assert list(shipped) == ["name", "version", "limits", "calibration", "evaluation", "build"]
    assert shipped["evaluation"] == metrics and shipped["limits"] == limits
    assert shipped["build"]["data"]["choice"]["files"] == 3 and shipped["build"]["code_commit"] == provenance.code_commit()
    from functions.biometrics.quality import load_limits

    assert load_limits(models).min_sharpness == limits["min_sharpness"]  # the service reads what ship wrote

