"""Anti-spoofing step: score the face-crop step's member crops with the liveness ensemble (biometrics/liveness.py).

A spoof takes the "spoof" branch (the chain ends early, at decide) unless
spoofs go to review (BIOAUTH_SPOOF_ACTION); live and uncertain faces go on.
"""

from __future__ import annotations

from ..biometrics.liveness import MODEL_NAME, SPOOF, check_liveness, members_of
from ..images import load_rgb
from ..onnx_models import load_model
from ..runtime.step_runner import StepContext, StepOutcome


def antispoof_step(ctx: StepContext) -> StepOutcome:
    """Check the stored member crops; a spoof ends the chain early unless spoofs go to review."""
    model = load_model(MODEL_NAME, ctx.services.settings.models_dir)
    stored = ctx.record.face_crops()
    crops = {
        m.crop_name: load_rgb(ctx.services.blobs.get(stored[m.crop_name]))
        for m in members_of(model.manifest)
        if m.crop_name in stored
    }
    result = check_liveness(crops, model)
    ends_here = result.label == SPOOF and ctx.services.settings.spoof_action == "reject"
    return StepOutcome(result=result.to_record(), branch="spoof" if ends_here else "ok")
