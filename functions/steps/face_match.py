"""Face-match step: embed the probe chip, protect it with the subject's token, compare it with the template.

The embedding and the comparison are the core's (biometrics/face_matching.py);
this step reads the chip and the subject's protected template, and refuses a
template made by another face model.
"""

from __future__ import annotations

from ..biometrics.face_matching import MODEL_NAME, embed_face, match_face, match_settings, template_model
from ..errors import StepFailed
from ..images import load_rgb
from ..onnx_models import load_model
from ..runtime.step_runner import StepContext, StepOutcome
from ..runtime.subjects import enrolled_subject, load_face_template, protect_probe


class TemplateOutdated(StepFailed):
    """The subject's face template was made by another face model: its embeddings are not comparable."""

    code = "template_outdated"
    http_status = 409


def face_match_step(ctx: StepContext) -> StepOutcome:
    """Embed the probe chip, protect it with the subject's token, compare it in the protected space."""
    services = ctx.services
    model = load_model(MODEL_NAME, services.settings.models_dir)
    subject = enrolled_subject(services, ctx.record.subject_id)
    template = load_face_template(subject, services)
    if template.model != template_model(model):
        raise TemplateOutdated(
            f"the face template was made with {template.model}, the service runs {template_model(model)}: "
            "renew the subject's template (POST /api/v1/subjects/{subject_id}/renewal) or enrol again"
        )
    chip = load_rgb(services.blobs.get(ctx.record.face_crops()["chip"]))
    probe = protect_probe(embed_face(chip, model), template, services)
    result = match_face(probe, template.references, **match_settings(model))
    return StepOutcome(result=result.to_record(), branch="ok")
