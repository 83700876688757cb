"""Signature step: compare the questioned signature with the subject's references (biometrics/signature_verification.py).

The step reads the subject's stored reference canvases and writer model; an
unusable image is recorded as a reason (the decision rejects it), not raised.
"""

from __future__ import annotations

from ..biometrics.signature_preparation import SignatureImageError
from ..biometrics.signature_verification import MODEL_NAME, WriterModel, verify_signature
from ..images import load_rgb
from ..onnx_models import load_model
from ..runtime.step_runner import StepContext, StepOutcome
from ..runtime.subjects import enrolled_subject, load_signature_references, load_signature_writer_model


def signature_step(ctx: StepContext) -> StepOutcome:
    """Compare the questioned signature with the subject's references; an unusable image is a reason, not a crash."""
    services = ctx.services
    model = load_model(MODEL_NAME, services.settings.models_dir)
    subject = enrolled_subject(services, ctx.record.subject_id)
    references = load_signature_references(subject, services)
    stored = load_signature_writer_model(subject, services)
    writer = WriterModel.decode(stored) if stored else None
    try:
        result = verify_signature(load_rgb(ctx.image("signature")), references, model, writer).to_record()
    except SignatureImageError as exc:
        result = {"reason": exc.code, "message": exc.message, "model_version": model.version}
    return StepOutcome(result=result, branch="ok")
