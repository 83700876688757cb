"""Dataset-wide: the service's own face path on the 300 labelled pairs of faces/master.csv (a few seconds; skipped without the data)."""

from __future__ import annotations

from tests.fixtures.faces import faces_dir_or_skip


def test_sface_service_path_gets_at_least_299_of_300_pairs_right_at_the_accept_band():
    """SFace through the served crop and alignment: same-person pairs reach `accept`, different people do not."""
    from functions.biometrics.face_detection import crop_face
    from functions.biometrics.face_alignment import ChipGeometry
    from functions.onnx_models import OnnxModel
    from functions.biometrics.face_matching import match_face, match_settings, embed_face
    from model_export.face.pairs import faces_pairs
    from tests.fixtures.faces import REPO_ROOT, read_rgb

    faces = faces_dir_or_skip()
    model = OnnxModel(REPO_ROOT / "models" / "face_sface")
    geometry, settings = ChipGeometry.from_manifest(model.manifest), match_settings(model)
    pairs = faces_pairs(faces)
    names = sorted({n for a, b, _ in pairs for n in (a, b)})
    emb = {n: embed_face(crop_face(read_rgb(faces / n), chip_spec=geometry).chip, model) for n in names}
    right = sum((match_face(emb[a], [emb[b]], **settings).band == "accept") == same for a, b, same in pairs)
    assert right >= 299, right
