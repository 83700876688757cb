"""Antispoof step: is the face live, or a photo, screen or mask? (ONNX presentation-attack model.)"""

from __future__ import annotations

import azure.functions as func

from .images import load_rgb
from .model_runtime import load_model
from .pipeline import StepContext, StepOutcome
from .triggers import STORAGE_CONNECTION, handle_queue_message


def antispoof_step(ctx: StepContext) -> StepOutcome:
    model = load_model("antispoof", ctx.services.settings.models_dir)
    crops = ctx.result_of("face-crop")["crops"]
    context = load_rgb(ctx.services.blobs.get(crops["context"]))
    raise NotImplementedError(model, context)


bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="antispoof", connection=STORAGE_CONNECTION)
@bp.queue_output(arg_name="to_face_match", queue_name="face-match", connection=STORAGE_CONNECTION)
@bp.queue_output(arg_name="to_decide", queue_name="decide", connection=STORAGE_CONNECTION)
def antispoof_trigger(msg: func.QueueMessage, to_face_match: func.Out[str], to_decide: func.Out[str]) -> None:
    handle_queue_message("antispoof", antispoof_step, msg, {"face-match": to_face_match, "decide": to_decide})
