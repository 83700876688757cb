"""Building the shipped anti-spoofing model: zone edges, fusion weight, box mapping, reviewed faces, the conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def test_zone_edges_cover_the_overlap_or_the_gap():
    from model_export.antispoof.calibrate import zone_edges

    labels = np.array([0] * 200 + [1] * 200)
    rng = np.random.default_rng(0)
    # Separated classes: the uncertain band is the gap, no training attack is accepted.
    separated = np.concatenate([rng.uniform(0.0, 0.3, 200), rng.uniform(0.6, 1.0, 200)])
    e = zone_edges(separated, labels)
    assert e["spoof"] == pytest.approx(separated[:200].max())
    assert e["live"] > separated[:200].max() and e["live"] == pytest.approx(np.quantile(separated[200:], 0.005), abs=1e-6)
    # Overlapping classes: live above every attack, spoof under 0.5% of live faces.
    overlap = np.concatenate([rng.uniform(0.0, 0.7, 200), rng.uniform(0.4, 1.0, 200)])
    e = zone_edges(overlap, labels)
    assert e["live"] > overlap[:200].max()
    assert e["spoof"] == pytest.approx(np.quantile(overlap[200:], 0.005))
    assert np.mean(overlap[200:] <= e["spoof"]) <= 0.01


def test_the_fusion_weight_with_the_widest_training_margin_wins():
    from model_export.antispoof.calibrate import choose_weights

    rng = np.random.default_rng(1)
    labels = np.array([0] * 300 + [1] * 300)
    good = np.concatenate([rng.uniform(0.0, 0.2, 300), rng.uniform(0.8, 1.0, 300)])
    noisy = np.concatenate([rng.uniform(0.0, 0.9, 300), rng.uniform(0.1, 1.0, 300)])
    weights, grid = choose_weights(np.stack([good, noisy], axis=1), labels)
    assert weights == [1.0, 0.0]
    assert len(grid) == 11


def test_the_box_mapping_recovers_a_known_offset_and_scale():
    from functions.biometrics.liveness import BoxMapping
    from model_export.antispoof.scoring import fit_box_mapping

    truth = BoxMapping(dx=-0.02, dy=-0.06, sw=1.05, sh=1.07)
    rng = np.random.default_rng(2)
    boxes = [(float(x), float(y), float(w), float(w * 1.1)) for x, y, w in rng.uniform([50, 50, 80], [300, 200, 160], (40, 3))]
    refs = [truth.apply(b) for b in boxes] + [None]
    mapping, stats = fit_box_mapping(boxes + [boxes[0]], refs)
    assert (mapping.dx, mapping.dy, mapping.sw, mapping.sh) == pytest.approx((-0.02, -0.06, 1.05, 1.07), abs=1e-3)
    assert stats["pairs"] == 40
    assert stats["median_iou_after"] == pytest.approx(1.0, abs=1e-3) and stats["median_iou_before"] < 0.95


def test_reviewed_faces_are_read_from_the_export_layout(tmp_path):
    """`reviews export`'s antispoof/<live|spoof>/<subject>/ folders become labelled faces, one person per subject."""
    from PIL import Image

    from model_export.antispoof.scoring import detect_reviewed
    from tests.fixtures.photos import astronaut, capture
    from tests.fixtures.spoof import make_print_attack

    live, spoof = tmp_path / "antispoof" / "live" / "alice", tmp_path / "antispoof" / "spoof" / "alice"
    live.mkdir(parents=True)
    spoof.mkdir(parents=True)
    Image.fromarray(capture(astronaut(), 1)).save(live / "case1.jpg")
    Image.fromarray(make_print_attack(astronaut(), seed=1)).save(spoof / "case2.png")
    (spoof / "notes.txt").write_text("not an image")
    Image.fromarray(np.zeros((200, 200, 3), np.uint8)).save(spoof / "case3.png")  # no face: no box
    reviewed = detect_reviewed(tmp_path)
    assert reviewed.labels.tolist() == [1, 0, 0]
    assert reviewed.subjects.tolist() == ["reviewed:alice"] * 3
    assert reviewed.found.tolist() == [True, True, False]


@pytest.mark.skipif(not (SHARED / "minifasnet").is_dir(), reason="../shared/data/minifasnet is absent")
def test_the_conversion_matches_our_definition_and_separates_the_upstream_samples(tmp_path):
    pytest.importorskip("torch", reason="the training stack (model_export/requirements.txt) is not installed")
    import json

    from model_export.antispoof.convert import convert

    part = convert(SHARED / "minifasnet", tmp_path, reference_dir=None, write_fixture=False)
    assert part["parity"]["max_abs_softmax_onnx_vs_pytorch"] < 1e-5
    assert [m["crop_scale"] for m in part["members"]] == [2.7, 4.0]
    assert (tmp_path / "model.onnx").stat().st_size < 5e6
    json.dumps(part)  # goes into the manifest as it is


def test_a_candidate_worse_on_any_fixed_set_is_not_promoted():
    import copy

    from model_export.antispoof.evaluate import promotion_verdict

    current = {
        "dev": {"acer": 0.0, "eer": 0.0, "three_zone": {"apcer_accepted_as_live": 0.0, "bpcer_rejected_as_spoof": 0.0, "live_to_review": 0.006}},
        "probes": {"screen": {"label": "attack", "live": 1, "spoof": 60}, "photos": {"label": "bona fide", "live": 10, "spoof": 2}},
    }
    assert promotion_verdict(copy.deepcopy(current), current) == []
    better = copy.deepcopy(current)
    better["dev"]["three_zone"]["live_to_review"] = 0.0
    assert promotion_verdict(better, current) == []
    worse = copy.deepcopy(current)
    worse["probes"]["screen"]["live"] = 2
    worse["probes"]["photos"]["spoof"] = 3
    worse["dev"]["acer"] = 0.001
    reasons = promotion_verdict(worse, current)
    assert len(reasons) == 3 and any("screen" in r for r in reasons) and any("acer" in r for r in reasons)
    missing = copy.deepcopy(current)
    del missing["probes"]["photos"]
    assert promotion_verdict(missing, current) == ["probe 'photos' not measured"]
