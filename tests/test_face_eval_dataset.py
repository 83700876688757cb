"""Dataset-wide: the service's own face path on the 300 labelled pairs of faces/master.csv (a few seconds; skipped without the data)."""

from __future__ import annotations

from tests.fixtures.faces import faces_dir_or_skip, model_dir_or_skip


def test_service_path_gets_at_least_299_of_300_pairs_right():
    from functions.runtime.models import OnnxModel
    from functions.settings import Settings
    from model_export.face.evaluate import pair_scores, read_pairs, service_embeddings, summarise

    faces = faces_dir_or_skip()
    model = OnnxModel(model_dir_or_skip())
    pairs = read_pairs(faces)
    names = sorted({n for a, b, _ in pairs for n in (a, b)})
    scores = pair_scores(pairs, service_embeddings(names, faces, model, Settings.from_env({})))
    summary = summarise(scores, model.manifest.thresholds["distance"])
    assert summary["pairs"] == 300
    assert summary["correct_at_threshold"] >= 299, summary
