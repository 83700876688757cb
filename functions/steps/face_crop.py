"""Face crop step: find the one face to verify and store the crops the next steps need.

The aligned chip is cut to the face embedding model's geometry and the
anti-spoofing members' crops to theirs, both read from their manifests, so
each network sees what it was trained on, and they are stored losslessly (PNG); the context crop is for
reviewers only and is stored as JPEG, which costs a tenth of PNG's encoding time on every request.
Detection and cropping are the core's (biometrics/face_detection.py, biometrics/liveness.py). Before any
crop is stored the capture's quality is measured (biometrics/quality.py, limits from models/quality/manifest.json):
a face too small, dark, bright, blurred or turned ends the request with a retake reason, never a judgement.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..biometrics.face_alignment import ChipGeometry
from ..biometrics.face_detection import crop_face
from ..biometrics.liveness import MODEL_NAME as ANTISPOOF_MODEL, member_crops
from ..biometrics.quality import QualityLimits, QualityVerdict, judge_capture, load_limits
from ..errors import ModelNotInstalled
from ..images import encode_jpeg, encode_png, load_rgb
from ..manifests import FACE_MODEL
from ..onnx_models import OnnxModel, load_model
from ..runtime.step_runner import StepContext, StepOutcome
from ..settings import get_settings
from ..storage import BlobToPut, put_all


def chip_geometry(models_dir) -> ChipGeometry | None:
    """The embedding model's chip geometry (from the process's cached model); without it no chip is cut."""
    try:
        return ChipGeometry.from_manifest(load_model(FACE_MODEL, models_dir).manifest)
    except ModelNotInstalled:
        return None


def context_scale_for(model: OnnxModel | None = None, models_dir: Path | None = None) -> float:
    """How much the face box must be enlarged for the anti-spoofing model's context crop (its manifest says; else the setting).

    The anti-spoofing model thus always sees the amount of background it was
    trained with. Without an installed model the crop is still cut, at the
    setting's scale, for review.
    """
    try:
        model = model or load_model(ANTISPOOF_MODEL, models_dir)
    except ModelNotInstalled:
        return get_settings().context_scale
    scale = model.manifest.extra.get("context_scale")
    return get_settings().context_scale if scale is None else float(scale)


def antispoof_crops(image_rgb, box, models_dir: Path | None = None) -> dict:
    """The anti-spoofing ensemble's member crops of the detected face (none without an installed ensemble)."""
    try:
        manifest = load_model(ANTISPOOF_MODEL, models_dir).manifest
    except ModelNotInstalled:
        return {}
    return member_crops(image_rgb, box, manifest)


def capture_limits(models_dir: Path, min_eye_distance_px: float) -> QualityLimits:
    """The shipped capture-quality limits, with the operator's size floor when it is stricter."""
    return load_limits(models_dir).with_min_eye_distance(min_eye_distance_px)


def crop_blob(verification_id: str, name: str, pixels) -> BlobToPut:
    """The crop as stored: a model's input as PNG, the reviewers' context crop as JPEG."""
    if name == "context":
        return BlobToPut("crops", f"{verification_id}/{name}.jpg", partial(encode_jpeg, pixels), "image/jpeg")
    return BlobToPut("crops", f"{verification_id}/{name}.png", partial(encode_png, pixels), "image/png")


def face_crop_step(ctx: StepContext) -> StepOutcome:
    s = ctx.services.settings
    image = load_rgb(ctx.image("face"))
    found = crop_face(
        image,
        min_score=s.min_face_score,
        min_eye_distance_px=0.0,  # the size is a capture-quality measure, judged below
        multiple_faces=s.multiple_faces,
        context_scale=context_scale_for(models_dir=s.models_dir),
        chip_spec=chip_geometry(s.models_dir),
    )
    result = found.to_record()
    if found.reason:
        return StepOutcome(result=result, branch="unusable_face")
    verdict: QualityVerdict = judge_capture(
        image, found.detection.box, found.detection.keypoints, capture_limits(s.models_dir, s.min_eye_distance_px)
    )
    result["quality"] = verdict.to_record()
    if not verdict.ok:
        result["reason"] = verdict.reason
        result["retake"] = verdict.retakes[0].to_dict()
        return StepOutcome(result=result, branch="retake")
    vid = ctx.message.verification_id
    pieces = [("chip", found.chip), ("context", found.context)]
    pieces += antispoof_crops(image, found.detection.box, s.models_dir).items()
    pieces = [(name, pixels) for name, pixels in pieces if pixels is not None]
    refs = put_all(ctx.services.blobs, [crop_blob(vid, name, pixels) for name, pixels in pieces])
    result["crops"] = {name: ref for (name, _), ref in zip(pieces, refs)}
    return StepOutcome(result=result, branch="ok")
