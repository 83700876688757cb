"""model_export's pipelines: verbs per model, the data content hash, the build record, and `ship` as the only writer of models/."""

from __future__ import annotations

import json
import subprocess

import pytest

from functions.manifests import read_manifest, sha256_file
from model_export.__main__ import PIPELINES, main
from model_export.common import provenance, shipping
from model_export.common.paths import MODELS_DIR
from functions.settings import REPO_ROOT

SHIPPED = ("face_sface", "antispoof", "signature")


def test_each_pipeline_ends_in_ship_after_a_read_only_evaluate():
    for model in ("face", "antispoof", "signature"):
        steps = list(PIPELINES[model])
        assert steps[-2:] == ["evaluate", "ship"] and "calibrate" in steps, model
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
