"""Face-match step: embed the probe chip with each fused network, protect them with the subject's token, compare.

The embeddings and the comparison are the core's (biometrics/face_matching.py);
this step reads the chip and the subject's protected template, and refuses a
template made by other face networks (another template version).
"""

from __future__ import annotations

from ..biometrics.face_matching import embed_members, face_models, match_face, match_settings
from ..errors import StepFailed
from ..images import load_rgb
from ..runtime.step_runner import StepContext, StepOutcome
from ..runtime.subjects import enrolled_subject, load_face_template, protect_probe


class TemplateOutdated(StepFailed):
    """The subject's face template was made by other face networks: its embeddings are not comparable."""

    code = "template_outdated"
    http_status = 409


def face_match_step(ctx: StepContext) -> StepOutcome:
    """Embed the probe chip with each network, protect the embeddings with the subject's token, compare in the protected space."""
    services = ctx.services
    models = face_models(services.settings.models_dir)
    subject = enrolled_subject(services, ctx.record.subject_id)
    template = load_face_template(subject, services)
    if template.model != models.template_model:
        raise TemplateOutdated(
            f"the face template was made with {template.model}, the service runs {models.template_model}: "
            "renew the subject's template (POST /api/v1/subjects/{subject_id}/renewal) or enrol again"
        )
    chip = load_rgb(services.blobs.get(ctx.record.face_crops()["chip"]))
    probe = protect_probe(embed_members(chip, models), template, services)
    result = match_face(probe, template.references, **match_settings(models.primary))
    return StepOutcome(result=result.to_record(), branch="ok")
