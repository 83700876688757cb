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


def test_sface_service_path_gets_at_least_299_of_300_pairs_right_at_the_accept_band():
    """SFace through the served crop and alignment: same-person pairs reach `accept`, different people do not."""
    from functions.imaging.face_detection import crop_face
    from functions.imaging.face_preprocessing import ChipGeometry
    from functions.runtime.models import OnnxModel
    from functions.steps.face_match import match_face, match_settings, embed_face
    from model_export.face.evaluate import read_pairs
    from tests.fixtures.faces import REPO_ROOT, read_rgb

    faces = faces_dir_or_skip()
    model = OnnxModel(REPO_ROOT / "models" / "face_sface")
    geometry, settings = ChipGeometry.from_manifest(model.manifest), match_settings(model)
    pairs = read_pairs(faces)
    names = sorted({n for a, b, _ in pairs for n in (a, b)})
    emb = {n: embed_face(crop_face(read_rgb(faces / n), chip_spec=geometry).chip, model) for n in names}
    right = sum((match_face(emb[a], [emb[b]], **settings).band == "accept") == same for a, b, same in pairs)
    assert right >= 299, right
