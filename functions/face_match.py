"""Face-match step: embed the probe chip and compare it with the subject's protected template."""

from __future__ import annotations

import azure.functions as func

from .model_runtime import load_model
from .pipeline import StepContext, StepOutcome
from .triggers import STORAGE_CONNECTION, handle_queue_message


def face_match_step(ctx: StepContext) -> StepOutcome:
    model = load_model("face_embedding", ctx.services.settings.models_dir)
    raise NotImplementedError(model)


bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="face-match", connection=STORAGE_CONNECTION)
@bp.queue_output(arg_name="to_signature", queue_name="signature", connection=STORAGE_CONNECTION)
def face_match_trigger(msg: func.QueueMessage, to_signature: func.Out[str]) -> None:
    handle_queue_message("face-match", face_match_step, msg, {"signature": to_signature})
